import type { Broker } from '../broker/broker.js';
import type { ResolvedConfig } from '../config/config.js';
import type { TaskqEmitter } from '../events.js';
import type { Logger } from '../logger.js';
import type { ErrorReporter } from '../reporter.js';
import type { Serializer } from '../serialize/serializer.js';
import type { PackageCodec } from '../signing/package-codec.js';
import type { ResultStore } from '../store/result-store.js';
import type { TaskMessage } from '../task/task.js';

/**
 * What the client and the cluster share: resolved config, the broker and store
 * for the default queue, the package codec, events and the logger.
 */
export interface Runtime {
  readonly config: ResolvedConfig;
  readonly broker: Broker;
  readonly store: ResultStore;
  readonly serializer: Serializer;
  readonly codec: PackageCodec;
  readonly events: TaskqEmitter;
  readonly logger: Logger;
  /** Error reporters resolved from `errorReporters` (names loaded by the client); default: the instances in config. */
  readonly reporters?: readonly ErrorReporter[];
  /** The broker for another queue (Django Q's `cluster`/`broker` routing). */
  brokerFor(queue: string): Promise<Broker>;
  /** Sign and send one message (used for chains and retries); honours message.cluster. */
  send(message: TaskMessage, options?: { delayMs?: number }): Promise<void>;
  /** Where cluster heartbeats go: the broker when it keeps stats, else the store. */
  readonly stats: Pick<Broker, 'setStat' | 'getStats' | 'deleteStat'> | null;
  /** Closes the brokers and store it created from URLs (instances passed in belong to the caller). */
  close(): Promise<void>;
}
