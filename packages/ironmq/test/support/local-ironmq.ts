import { uniqueName } from '@taskq/conformance';
import { IronMqServer, type IronMqServerOptions } from '@taskq/test-servers/ironmq';
import { IronMqBroker, type IronMqBrokerOptions } from '../../src/index.js';

/**
 * The local IronMQ v3 server with short reservations allowed (the tests use
 * 1–2 s leases; the API's documented minimum is 30 s), plus the brokers a test
 * opened, so `cleanup()` closes everything.
 */
export class LocalIronMq {
  readonly #brokers: IronMqBroker[] = [];

  private constructor(readonly server: IronMqServer) {}

  static async start(options: IronMqServerOptions = {}): Promise<LocalIronMq> {
    return new LocalIronMq(await IronMqServer.start({ minTimeoutSeconds: 1, ...options }));
  }

  /** A broker on a fresh queue (or `queue`) of this server. */
  broker(options: Partial<IronMqBrokerOptions> = {}): IronMqBroker {
    const broker = new IronMqBroker({
      queue: uniqueName('ironmq'),
      retrySeconds: 30,
      url: this.server.url(),
      ...options,
    });
    this.#brokers.push(broker);
    return broker;
  }

  /** Requests the server saw for `method` and a path ending with `suffix`. */
  requests(method: string, suffix: string): number {
    return this.server.requests.filter((r) => r.method === method && r.path.endsWith(suffix)).length;
  }

  async closeBrokers(): Promise<void> {
    for (const broker of this.#brokers.splice(0)) await broker.close();
  }

  async stop(): Promise<void> {
    await this.closeBrokers();
    await this.server.stop();
  }
}
