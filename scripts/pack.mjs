// `npm run pack [-- core orm redis]`: installable tarballs of the public packages (all, or those named)
// in .packs/, for installing taskq into a project before it is on a registry:
//   npm install /path/to/taskq/.packs/taskq-core-0.1.0.tgz /path/to/taskq/.packs/taskq-orm-0.1.0.tgz
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, '.packs');
const only = process.argv.slice(2).map((name) => name.replace(/^@taskq\//, ''));

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => ({ dir: `packages/${dir}`, file: join(root, 'packages', dir, 'package.json') }))
  .filter(({ file }) => existsSync(file))
  .map(({ dir, file }) => ({ dir, pkg: JSON.parse(readFileSync(file, 'utf8')) }))
  .filter(({ pkg }) => !pkg.private)
  .filter(({ pkg }) => only.length === 0 || only.includes(pkg.name.replace(/^@taskq\//, '')));

const unknown = only.filter((name) => !packages.some(({ pkg }) => pkg.name === `@taskq/${name}`));
if (unknown.length > 0) fail(`no public package named ${unknown.join(', ')}`);
const unbuilt = packages.filter(({ dir, pkg }) => !existsSync(join(root, dir, pkg.main ?? 'dist/index.js')));
if (unbuilt.length > 0) fail(`${unbuilt.map(({ pkg }) => pkg.name).join(', ')} not built: run \`npm run build\` first`);

mkdirSync(out, { recursive: true });
for (const { pkg } of packages) {
  rmSync(join(out, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`), { force: true });
}
const workspaces = packages.flatMap(({ dir }) => ['-w', dir]);
const packed = JSON.parse(
  execFileSync('npm', ['pack', '--json', '--pack-destination', out, ...workspaces], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }),
);
for (const { name, version, filename, entryCount, size } of packed) {
  process.stdout.write(`${name}@${version}: .packs/${filename} (${entryCount} files, ${Math.round(size / 1024)} kB)\n`);
}
process.stdout.write(
  `\nInstall into a project with: npm install ${packed.map((p) => join(out, p.filename)).join(' ')}\n`,
);

function fail(message) {
  process.stderr.write(`npm run pack: ${message}\n`);
  process.exit(1);
}
