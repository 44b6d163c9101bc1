export type { AccessLimits } from './access.js';
export { Connection, type ConnectionOptions } from './connection.js';
export type { ListenerTls } from './listeners/network.js';
export { hashToken, newToken, Policy, PolicyError, parsePolicy } from './policy.js';
export { Daemon, DaemonError, DaemonErrorCode, type DaemonOptions } from './server.js';
