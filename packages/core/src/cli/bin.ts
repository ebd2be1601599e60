#!/usr/bin/env node
import { runCli } from './program.js';

const code = await runCli(process.argv);
// Flush what was written before exiting: a stopped cluster or a closed monitor leaves nothing to wait for.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
process.exit(code);
