// prepack: ship the CLI reference inside @taskq/core (docs/cli.md), where `taskq --help` points.
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync(new URL('../docs/', import.meta.url), { recursive: true });
copyFileSync(new URL('../../../docs/cli.md', import.meta.url), new URL('../docs/cli.md', import.meta.url));
