export { DisqueCluster, DisqueNode, startDisque, type DisqueClusterOptions } from './server.js';
export { JobStore, type Job, type JobState } from './jobs.js';
export { encode, RequestParser, type Reply } from './resp.js';
