import type { Broker } from '../broker/broker.js';
import type { Logger } from '../logger.js';

/**
 * Keeps the leases of deliveries this cluster holds (queued locally or
 * running) from expiring, so a task that runs longer than `retry` is not
 * delivered to another cluster (Django Q's most reported defect). Only a
 * cluster that died lets its tasks be delivered again.
 */
export class LeaseKeeper {
  /** receipt → when its lease was last set (ms). */
  readonly #held = new Map<string, number>();
  #extending = false;

  constructor(
    private readonly broker: Broker,
    private readonly retrySeconds: number,
    private readonly logger: Logger,
    private readonly enabled: boolean,
  ) {}

  hold(receipt: string): void {
    this.#held.set(receipt, Date.now());
  }

  release(receipt: string): void {
    this.#held.delete(receipt);
  }

  get size(): number {
    return this.#held.size;
  }

  /** Extends every lease older than a third of `retry`; called each guard cycle. */
  async tick(): Promise<void> {
    if (!this.enabled || this.#extending || !this.broker.capabilities.extendLease) return;
    const threshold = Date.now() - (this.retrySeconds * 1000) / 3;
    const due = [...this.#held].filter(([, at]) => at <= threshold).map(([receipt]) => receipt);
    if (due.length === 0) return;
    this.#extending = true;
    try {
      await Promise.all(
        due.map(async (receipt) => {
          await this.broker.extend(receipt, this.retrySeconds);
          if (this.#held.has(receipt)) this.#held.set(receipt, Date.now());
        }),
      );
    } catch (error) {
      this.logger.warn('could not extend task leases; will retry next cycle', { error: (error as Error).message });
    } finally {
      this.#extending = false;
    }
  }
}
