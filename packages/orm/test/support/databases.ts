import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';

export const PG_URL = process.env.TASKQ_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.TASKQ_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** One database server as the tests use it, isolated for this run. */
export interface TestDatabase {
  name: 'sqlite' | 'postgres' | 'mariadb';
  /** False only outside CI: with CI=true an unreachable server makes the tests fail, never skip. */
  enabled: boolean;
  /** A URL into this run's own space (schema, table prefix or temp file); `prefix` separates tests further. */
  url(prefix?: string): string;
  /** Drops everything this run created. */
  cleanup(): Promise<void>;
}

const run = `${process.pid.toString(36)}${randomBytes(3).toString('hex')}`;
const inCi = process.env.CI === 'true';

async function reachable(probe: () => Promise<void>, name: string): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    if (!inCi) console.warn(`${name} unreachable, skipping its tests: ${(error as Error).message}`);
    return inCi;
  }
}

export async function postgres(): Promise<TestDatabase> {
  const schema = `taskq_t_${run}`;
  const query = async (text: string) => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  return {
    name: 'postgres',
    enabled: await reachable(() => query('select 1'), 'PostgreSQL'),
    url: (prefix = 'taskq_') => `${PG_URL}?schema=${schema}&prefix=${prefix}`,
    cleanup: () => query(`drop schema if exists ${schema} cascade`).catch(() => {}),
  };
}

export async function mariadb(): Promise<TestDatabase> {
  const runPrefix = `tq${run}_`;
  const withConnection = async <T>(work: (c: Awaited<ReturnType<typeof createConnection>>) => Promise<T>) => {
    const connection = await createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    try {
      return await work(connection);
    } finally {
      await connection.end();
    }
  };
  return {
    name: 'mariadb',
    enabled: await reachable(() => withConnection(async (c) => void (await c.query('select 1'))), 'MariaDB'),
    url: (prefix = '') => `${MYSQL_URL}?prefix=${runPrefix}${prefix}`,
    cleanup: () =>
      withConnection(async (c) => {
        const [rows] = await c.query(
          'select table_name as name from information_schema.tables where table_schema = database() and table_name like ?',
          [`${runPrefix}%`],
        );
        const names = (rows as { name: string }[]).map((r) => `\`${r.name}\``);
        if (names.length > 0) await c.query(`drop table if exists ${names.join(', ')}`);
      }).catch(() => {}),
  };
}

export async function sqlite(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'taskq-orm-'));
  return {
    name: 'sqlite',
    enabled: true,
    url: (prefix = 'taskq_') => `sqlite:${join(dir, 'taskq.sqlite')}?prefix=${prefix}`,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function allDatabases(): Promise<TestDatabase[]> {
  return [await sqlite(), await postgres(), await mariadb()];
}
