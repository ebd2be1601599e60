import type { Command } from 'commander';
import { schemeOf, ErrorCodes, TaskqError, importOptional } from '../../index.js';
import { addCommonOptions, loadCliConfig, type CommonFlags } from '../context.js';
import { printJson } from '../format.js';

const SQL_SCHEMES = new Set(['sqlite', 'postgres', 'postgresql', 'mysql', 'mariadb']);
/** A variable, so TypeScript does not try to resolve the optional package at build time. */
const ORM_PACKAGE = '@taskq/orm';

interface OrmModule {
  migrate(url: string): Promise<{ applied: number[]; version: number }>;
}

export function registerMigrate(program: Command): void {
  const command = program
    .command('migrate')
    .description('create or upgrade the taskq tables of a SQL broker/store (@taskq/orm)')
    .option('--json', 'print JSON');
  addCommonOptions(command).action(async (flags: CommonFlags & { json?: boolean }) => {
    const { config } = await loadCliConfig(flags);
    const urls = [config.broker, config.store].filter(
      (url): url is string => typeof url === 'string' && SQL_SCHEMES.has(schemeOf(url)),
    );
    const unique = [...new Set(urls)];
    if (unique.length === 0) {
      throw new TaskqError(
        ErrorCodes.CONFIG,
        `Nothing to migrate: \`taskq migrate\` creates the tables of a SQL broker or store, but the broker is ` +
          `${describe(config.broker)} and the store ${describe(config.store)}. Set TASKQ_BROKER_URL or ` +
          'TASKQ_STORE_URL to sqlite:…, postgres://… or mysql://….',
      );
    }
    const orm = await loadOrm();
    const results = [];
    for (const url of unique) {
      const result = await orm.migrate(url);
      const masked = url.replace(/(\/\/[^:/]*:)[^@/]*@/, '$1********@');
      results.push({ url: masked, ...result });
      if (!flags.json) {
        process.stdout.write(
          result.applied.length > 0
            ? `${masked}: applied migration${result.applied.length === 1 ? '' : 's'} ${result.applied.join(', ')}; now at version ${result.version}\n`
            : `${masked}: up to date (version ${result.version})\n`,
        );
      }
    }
    if (flags.json) printJson(results);
  });
}

function describe(value: unknown): string {
  if (value === undefined) return 'the broker’s';
  return typeof value === 'string' ? value.replace(/(\/\/[^:/]*:)[^@/]*@/, '$1********@') : 'an instance';
}

function loadOrm(): Promise<OrmModule> {
  return importOptional<OrmModule>(ORM_PACKAGE, '`taskq migrate`');
}
