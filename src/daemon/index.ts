export { Connection, type ConnectionOptions } from './connection.js';
export { Daemon, DaemonError, DaemonErrorCode, type DaemonOptions } from './server.js';
