export { Connection } from './connection.js';
export { Daemon, DaemonError, type DaemonOptions } from './server.js';
export { defaultSocketPath } from './socket-path.js';
