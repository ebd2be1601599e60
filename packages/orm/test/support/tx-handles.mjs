// The application's own transaction handles, one factory per kind the SQL broker accepts. Shared by
// test/transactional.test.ts and the crash child (tx-crash.mjs), so both open them the same way.
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect } from 'kysely';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import pg from 'pg';

/** Handle kinds per test database name. */
export const HANDLE_KINDS = {
  postgres: ['kysely-transaction', 'pg-client', 'pg-pool-client'],
  mariadb: ['kysely-transaction', 'mysql2-promise', 'mysql2-callback', 'mysql2-pool-connection'],
  sqlite: ['kysely-transaction', 'better-sqlite3'],
};

/**
 * Opens a connection of `kind` to `target` (the driver URL, or the SQLite file) and returns
 * `{ begin() → handle, commit(), rollback(), close() }`.
 */
export async function openHandle(kind, target) {
  switch (kind) {
    case 'kysely-transaction': {
      const db = kyselyFor(target);
      let trx;
      return {
        begin: async () => (trx = await db.startTransaction().execute()),
        commit: () => trx.commit().execute(),
        rollback: () => trx.rollback().execute(),
        close: () => db.destroy(),
      };
    }
    case 'pg-client': {
      const client = new pg.Client({ connectionString: target });
      await client.connect();
      return sqlHandle(
        client,
        (text) => client.query(text),
        () => client.end(),
      );
    }
    case 'pg-pool-client': {
      const pool = new pg.Pool({ connectionString: target, max: 2 });
      const client = await pool.connect();
      return sqlHandle(
        client,
        (text) => client.query(text),
        async () => {
          client.release();
          await pool.end();
        },
      );
    }
    case 'mysql2-promise': {
      const connection = await mysqlPromise.createConnection({ uri: target });
      return {
        begin: async () => (await connection.beginTransaction(), connection),
        commit: () => connection.commit(),
        rollback: () => connection.rollback(),
        close: () => connection.end(),
      };
    }
    case 'mysql2-callback': {
      const connection = mysql.createConnection({ uri: target });
      const call = (method) => new Promise((resolve, reject) => connection[method]((e) => (e ? reject(e) : resolve())));
      return {
        begin: async () => (await call('beginTransaction'), connection),
        commit: () => call('commit'),
        rollback: () => call('rollback'),
        close: () => call('end'),
      };
    }
    case 'mysql2-pool-connection': {
      const pool = mysqlPromise.createPool({ uri: target, connectionLimit: 2 });
      const connection = await pool.getConnection();
      return sqlHandle(
        connection,
        (text) => connection.query(text),
        async () => {
          connection.release();
          await pool.end();
        },
      );
    }
    case 'better-sqlite3': {
      const database = new BetterSqlite3(target, { timeout: 5000 });
      return {
        begin: async () => (database.exec('BEGIN IMMEDIATE'), database),
        commit: async () => database.exec('COMMIT'),
        rollback: async () => database.exec('ROLLBACK'),
        close: async () => database.close(),
      };
    }
    default:
      throw new Error(`unknown handle kind ${kind}`);
  }
}

function sqlHandle(handle, run, close) {
  return {
    begin: async () => (await run('BEGIN'), handle),
    commit: () => run('COMMIT'),
    rollback: () => run('ROLLBACK'),
    close,
  };
}

function kyselyFor(target) {
  if (target.startsWith('postgres')) {
    return new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: target, max: 2 }) }) });
  }
  if (target.startsWith('mysql')) {
    return new Kysely({ dialect: new MysqlDialect({ pool: mysql.createPool({ uri: target, connectionLimit: 2 }) }) });
  }
  return new Kysely({ dialect: new SqliteDialect({ database: new BetterSqlite3(target, { timeout: 5000 }) }) });
}
