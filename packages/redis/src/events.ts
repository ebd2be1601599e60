import { ErrorCodes, type TaskEventChannel, type TaskFinishedEvent } from '@taskq/core';
import { guard } from './errors.js';
import { isCluster, type RedisClient } from './options.js';

/**
 * Finished-task events over Redis pub/sub on `<prefix>:events` (every queue and cluster under the prefix):
 * one PUBLISH per saved batch from the cluster; subscribers share one dedicated connection (a connection in
 * subscriber mode can run no other command), opened at the first subscription and closed after the last.
 * Pub/sub is fire-and-forget: a subscriber that is disconnected misses what was published meanwhile, which is
 * why waiting clients re-check the store now and then.
 */
export class RedisEventChannel implements TaskEventChannel {
  readonly channel: string;
  readonly #listeners = new Set<(events: TaskFinishedEvent[]) => void>();
  #subscriber: Promise<RedisClient> | undefined;

  constructor(
    private readonly redis: RedisClient,
    prefix: string,
    private readonly closed: () => boolean,
  ) {
    this.channel = `${prefix}:events`;
  }

  async publishFinished(events: readonly TaskFinishedEvent[]): Promise<void> {
    if (events.length === 0) return;
    await guard(ErrorCodes.BROKER_UNAVAILABLE, 'Redis event channel', this.closed, () =>
      this.redis.publish(this.channel, JSON.stringify(events)),
    );
  }

  async subscribeFinished(listener: (events: TaskFinishedEvent[]) => void): Promise<() => Promise<void>> {
    this.#listeners.add(listener);
    try {
      await (this.#subscriber ??= this.#open());
    } catch (error) {
      this.#listeners.delete(listener);
      throw error;
    }
    return async () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) await this.close();
    };
  }

  async #open(): Promise<RedisClient> {
    const subscriber: RedisClient = isCluster(this.redis) ? this.redis.duplicate() : this.redis.duplicate();
    subscriber.on('error', () => undefined);
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.channel) return;
      let events: TaskFinishedEvent[];
      try {
        events = JSON.parse(message) as TaskFinishedEvent[];
      } catch {
        return; // not ours
      }
      for (const listener of this.#listeners) listener(events);
    });
    try {
      await guard(ErrorCodes.BROKER_UNAVAILABLE, 'Redis event channel', this.closed, () =>
        subscriber.subscribe(this.channel),
      );
    } catch (error) {
      this.#subscriber = undefined;
      subscriber.disconnect();
      throw error;
    }
    return subscriber;
  }

  /** Closes the subscriber connection (the broker's close calls it). */
  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    const client = await subscriber?.catch(() => undefined);
    if (client?.status === 'ready') await client.quit().catch(() => undefined);
    client?.disconnect();
  }
}
