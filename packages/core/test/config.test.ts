import { describe, expect, it } from 'vitest';
import { assertLeaseCoversTimeout, maskConfig, resolveConfig } from '../src/config/config.js';

describe('config', () => {
  it("fills Django Q's defaults, except a finite retry budget (maxAttempts 3; Django Q's is 0 = forever)", () => {
    const config = resolveConfig({ workers: 3 });
    expect(config).toMatchObject({
      name: 'default',
      cluster: 'default',
      workers: 3,
      concurrency: 1,
      recycle: 500,
      timeout: null,
      retry: 60,
      maxAttempts: 3,
      ackFailures: false,
      compress: false,
      saveLimit: 250,
      guardCycle: 0.5,
      sync: false,
      queueLimit: 9,
      bulk: 1,
      cached: false,
      catchUp: true,
    });
  });

  it('names every bad option and how to fix it', () => {
    let message = '';
    try {
      resolveConfig({ workers: 0, saveLimit: -5, tiemout: 3 } as never);
    } catch (error) {
      expect((error as { code: string }).code).toBe('TASKQ_CONFIG_INVALID');
      message = (error as Error).message;
    }
    expect(message).toMatch(/`workers`.*at least 1/);
    expect(message).toMatch(/`saveLimit`.*-1 for none/);
    expect(message).toMatch(/unknown option\(s\) `tiemout`/);
  });

  it('demands retry > timeout only where leases cannot be extended', () => {
    const config = resolveConfig({ timeout: 120, retry: 60 });
    expect(() => assertLeaseCoversTimeout(config, true)).not.toThrow();
    expect(() => assertLeaseCoversTimeout(config, false)).toThrow(/`retry` \(60 s\) must exceed `timeout` \(120/);
    expect(() => assertLeaseCoversTimeout(resolveConfig({ timeout: 30, retry: 60 }), false)).not.toThrow();
  });

  it('masks secrets and URL passwords when printed', () => {
    const masked = maskConfig(resolveConfig({ secretKey: 'hunter2', broker: 'redis://user:pw@host:6379/0' }));
    expect(masked.secretKey).toBe('********');
    expect(masked.broker).toBe('redis://user:********@host:6379/0');
  });
});
