export { runBrokerSuite, type BrokerSuiteOptions } from './broker-suite.js';
export { runKeyedLimitsSuite, type KeyedLimitsSuiteOptions } from './keyed-limits-suite.js';
export { runResultStoreSuite, type StoreSuiteOptions } from './store-suite.js';
export {
  runScheduleStoreSuite,
  sampleSchedule,
  type ScheduleStoreFactory,
  type ScheduleStoreHarness,
  type ScheduleStoreSuiteOptions,
} from './schedule-store-suite.js';
export { makeFailure, makeRecord, makeStat, taskId } from './fixtures.js';
export { rejectionCode, sleep, uniqueName, waitFor } from './wait.js';
