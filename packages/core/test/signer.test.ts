import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HmacSigner } from '../src/signing/hmac-signer.js';
import { PackageCodec } from '../src/signing/package-codec.js';
import { taggedJson } from '../src/serialize/tagged-json.js';

const signer = (options: Partial<ConstructorParameters<typeof HmacSigner>[0]> = {}) =>
  new HmacSigner({ secretKey: 'k3y', salt: 'default', ...options });

describe('HMAC signer', () => {
  it('round-trips text and reports when it was signed', () => {
    const s = signer({ now: () => 1_700_000_000_000 });
    const pkg = s.sign('héllo ☃');
    expect(pkg.split(':')).toHaveLength(3);
    expect(s.unsign(pkg)).toEqual({ text: 'héllo ☃', signedAt: 1_700_000_000_000 });
  });

  it('rejects packages signed with another key or another cluster name', () => {
    const pkg = signer().sign('x');
    expect(() => signer({ secretKey: 'other' }).unsign(pkg)).toThrow(
      expect.objectContaining({ code: 'TASKQ_BAD_SIGNATURE' }),
    );
    expect(() => signer({ salt: 'billing' }).unsign(pkg)).toThrow(
      expect.objectContaining({ code: 'TASKQ_BAD_SIGNATURE' }),
    );
  });

  it('rejects tampered payloads, timestamps and signatures', () => {
    const pkg = signer().sign('{"a":1}');
    const [payload, ts, sig] = pkg.split(':') as [string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    for (const forged of [
      `${flip(payload)}:${ts}:${sig}`,
      `${payload}:${flip(ts)}:${sig}`,
      `${payload}:${ts}:${flip(sig)}`,
    ]) {
      expect(() => signer().unsign(forged)).toThrow(expect.objectContaining({ code: 'TASKQ_BAD_SIGNATURE' }));
    }
  });

  it('rejects thousands of random and truncated inputs with a typed error, never a crash', () => {
    const s = signer({ compress: true });
    const genuine = s.sign('x'.repeat(500));
    for (let i = 0; i < 3000; i++) {
      const input =
        i % 3 === 0
          ? randomBytes(i % 200).toString('latin1')
          : i % 3 === 1
            ? genuine.slice(0, i % genuine.length)
            : randomBytes(40).toString('base64url') + ':' + (i % 7 ? 'x:' : '') + randomBytes(32).toString('base64url');
      let code: string | undefined;
      try {
        s.unsign(input);
      } catch (error) {
        code = (error as { code?: string }).code;
      }
      expect(['TASKQ_BAD_SIGNATURE', 'TASKQ_BAD_PACKAGE']).toContain(code);
    }
  });

  it('compresses only when that is shorter', () => {
    const long = 'abc'.repeat(1000);
    expect(signer({ compress: true }).sign(long).startsWith('.')).toBe(true);
    expect(signer({ compress: true }).sign('{}').startsWith('.')).toBe(false);
    expect(signer({ compress: true }).unsign(signer({ compress: true }).sign(long)).text).toBe(long);
  });

  it('enforces maxAge', () => {
    let now = 1_000_000;
    const s = signer({ now: () => now });
    const pkg = s.sign('x');
    now += 11_000;
    expect(() => s.unsign(pkg, { maxAgeSeconds: 10 })).toThrow(
      expect.objectContaining({ code: 'TASKQ_PACKAGE_EXPIRED' }),
    );
    expect(s.unsign(pkg, { maxAgeSeconds: 20 }).text).toBe('x');
  });

  it('refuses an empty secret key', () => {
    expect(() => signer({ secretKey: '' })).toThrow(expect.objectContaining({ code: 'TASKQ_NO_SECRET_KEY' }));
  });
});

describe('package codec', () => {
  const codec = new PackageCodec(taggedJson, signer());

  it('rejects a genuine signature over something that is not a task message', () => {
    const pkg = signer().sign(taggedJson.serialize({ id: 'x', args: 'nope' }));
    expect(() => codec.unpack(pkg)).toThrow(expect.objectContaining({ code: 'TASKQ_BAD_PACKAGE' }));
  });

  it('round-trips a task message with rich arguments', () => {
    const message = { id: 'a'.repeat(32), name: 'n', func: 'f', args: [new Date(1), 1n], enqueuedAt: 5 };
    expect(codec.unpack(codec.pack(message))).toEqual(message);
  });
});
