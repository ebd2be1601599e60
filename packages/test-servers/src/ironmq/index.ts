export { IronMqServer, type IronMqServerOptions } from './server.js';
export { ApiError, Queue, type StoredMessage } from './queue.js';
