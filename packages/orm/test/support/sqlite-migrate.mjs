// Runs migrate() on a SQLite URL in its own process and prints the result.
import { migrate } from '../../dist/index.js';

process.stdout.write(JSON.stringify(await migrate(process.argv[2])) + '\n');
