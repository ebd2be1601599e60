import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Asset {
  body: Buffer;
  type: string;
}

const require = createRequire(import.meta.url);
const own = (name: string) => new URL(`../assets/${name}`, import.meta.url);

/**
 * Every file the pages load, served by the dashboard itself (no CDN): htmx
 * and uPlot from their npm packages (dependencies of this one), app.css and
 * app.js from this package's assets/ folder. Read once, on first use.
 */
const SOURCES: Record<string, () => Asset> = {
  'htmx.min.js': () => ({ body: readFileSync(require.resolve('htmx.org/dist/htmx.min.js')), type: 'text/javascript' }),
  'uPlot.iife.min.js': () => ({
    body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
    type: 'text/javascript',
  }),
  'uPlot.min.css': () => ({ body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')), type: 'text/css' }),
  'app.css': () => ({ body: readFileSync(own('app.css')), type: 'text/css' }),
  'app.js': () => ({ body: readFileSync(own('app.js')), type: 'text/javascript' }),
};

const cache = new Map<string, Asset>();

export function asset(name: string): Asset | undefined {
  const load = SOURCES[name];
  if (!load) return undefined;
  let found = cache.get(name);
  if (!found) {
    found = load();
    cache.set(name, found);
  }
  return found;
}
