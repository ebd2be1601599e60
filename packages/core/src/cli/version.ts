import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @taskq/core's version, read from its package.json (two levels above dist/cli/). */
export function coreVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/**
 * Where the CLI reference is on this machine: shipped in the package as docs/cli.md
 * (copied there when it is packed), or the repository's docs/cli.md in a checkout.
 */
export function cliDocsPath(): string {
  for (const relative of ['../../docs/cli.md', '../../../../docs/cli.md']) {
    const url = new URL(relative, import.meta.url);
    if (existsSync(url)) return fileURLToPath(url);
  }
  return 'docs/cli.md in the @taskq/core package';
}
