#!/usr/bin/env node
// The `taskq` command. This file is committed, not build output, so that npm can link
// node_modules/.bin/taskq in a fresh clone (where `npm ci` links bins before the build runs).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/cli/bin.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(
    'taskq: @taskq/core is not built (dist/cli/bin.js is missing): run `npm run build` in the taskq repository.\n',
  );
  process.exit(1);
}
await import(cli.href);
