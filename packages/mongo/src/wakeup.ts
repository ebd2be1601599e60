/**
 * A one-shot wake-up armed *before* a dequeue looks at the collection, so a
 * wake that lands between "found nothing" and "start sleeping" is not missed.
 */
export class Wakeup {
  #fired = false;
  #resolve: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;

  readonly fire = (): void => {
    this.#fired = true;
    this.#resolve?.();
  };

  /** Resolves when fired, or after `ms`. */
  sleep(ms: number): Promise<void> {
    if (this.#fired) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#resolve = resolve;
      this.#timer = setTimeout(resolve, ms);
    }).finally(() => clearTimeout(this.#timer));
  }
}
