export {
  ClusterAgent,
  ClusterError,
  type ClusterOptions,
  type ClusterView,
  DEFAULT_CLUSTER_TIMEOUT_MS,
  type Traffic,
} from './agent.js';
export { ClusterNames } from './device-agent.js';
export { Buckets, heartbeatSubject, parseReplierKey } from './subjects.js';
