import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Taskq } from '@taskq/core';
import { ClusterProcesses, eventually } from './support/cluster-processes.js';

// kill -9 of a cluster process while it works through 2,000 tasks loses none: PostgreSQL (the
// requirement), and the same on SQLite and MariaDB.
const PG = process.env.TASKQ_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL = process.env.TASKQ_TEST_MYSQL ?? 'mysql://root@127.0.0.1:3306/test';
const run = `${process.pid}_${randomBytes(3).toString('hex')}`;
const TOTAL = 2000;

interface Target {
  name: string;
  url: string;
  cleanup: () => Promise<void>;
}

const dir = mkdtempSync(join(tmpdir(), 'taskq-crash-'));
const prefix = `crash_${run}_`;
const targets: Target[] = [
  {
    name: 'PostgreSQL',
    url: `${PG}?schema=taskq_crash_${run}`,
    cleanup: async () => {
      const db = new pg.Client({ connectionString: PG });
      await db.connect();
      await db.query(`DROP SCHEMA IF EXISTS "taskq_crash_${run}" CASCADE`);
      await db.end();
    },
  },
  {
    name: 'SQLite',
    url: `sqlite:${join(dir, 'taskq.sqlite')}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  },
  {
    name: 'MariaDB',
    url: `${MYSQL}?prefix=${prefix}`,
    cleanup: async () => {
      const db = await createConnection({ uri: MYSQL });
      const [rows] = await db.query(
        'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
        [`${prefix}%`],
      );
      const names = (rows as { name: string }[]).map((r) => `\`${r.name}\``);
      if (names.length > 0) await db.query(`drop table if exists ${names.join(', ')}`);
      await db.end();
    },
  },
];

for (const target of targets) {
  describe(`SQL broker on ${target.name}: a cluster killed with SIGKILL`, () => {
    const secret = randomBytes(16).toString('hex');
    const clusters = new ClusterProcesses(target.url, secret);
    const client = new Taskq({
      name: 'crash',
      secretKey: secret,
      broker: target.url,
      store: target.url,
      logLevel: 'warn',
    });

    afterAll(async () => {
      await clusters.stopAll();
      await client.close();
      await target.cleanup();
    }, 60_000);

    it(`loses none of ${TOTAL} tasks: each ends with exactly one saved result`, async () => {
      const ids = await client.enqueueMany(Array.from({ length: TOTAL }, (_, i) => ({ task: 'work', args: [i] })));
      expect(new Set(ids).size).toBe(TOTAL);
      const runtime = await client.runtime();
      const saved = async () => (await runtime.store.list({ limit: 1 })).total;

      const first = await clusters.start();
      await eventually(async () => (await saved()) >= TOTAL / 4, 'a quarter of the results', 60_000);
      await clusters.stop(first, 'SIGKILL');
      // it really died mid-run, holding leased tasks that only lease expiry can give back
      expect(await saved()).toBeLessThan(TOTAL);
      expect(await runtime.broker.lockSize()).toBeGreaterThan(0);

      const second = await clusters.start();
      await eventually(async () => (await saved()) >= TOTAL, 'every result', 120_000);
      await eventually(
        async () => (await runtime.broker.queueSize()) + (await runtime.broker.lockSize()) === 0,
        'an empty queue',
        30_000,
      );
      await clusters.stop(second, 'SIGTERM');

      // one row per task id (the primary key), every one a success with the right value
      const { records, total } = await runtime.store.list({ limit: TOTAL * 2 });
      expect(total).toBe(TOTAL);
      expect(new Set(records.map((r) => r.id))).toEqual(new Set(ids));
      expect(records.every((r) => r.success)).toBe(true);
      const byId = new Map(records.map((r) => [r.id, r]));
      ids.forEach((id, i) => expect(JSON.parse(byId.get(id)!.result!)).toBe(i));
    }, 240_000);
  });
}
