// The demo's task module: every exported function is a task, named by its export.
import { currentTask } from '@taskq/core/worker';

export function add(a: number, b: number): number {
  return a + b;
}

/** Sample quotes (USD) the demo "fetches"; a real task would call a market-data API here. */
const LAST_CLOSE: Record<string, number> = { AAPL: 229.87, MSFT: 415.32, NVDA: 131.38, AMZN: 186.51, GOOGL: 168.42 };

export async function fetchPrice(symbol: string): Promise<{ symbol: string; price: number; currency: 'USD' }> {
  await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100)); // network latency
  const close = LAST_CLOSE[symbol];
  if (close === undefined) throw new Error(`no quote for ${symbol}`);
  const move = 1 + (Math.random() - 0.5) / 50; // within ±1% of the last close
  return { symbol, price: Math.round(close * move * 100) / 100, currency: 'USD' };
}

export function slugify(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export function divide(a: number, b: number): number {
  if (b === 0) throw new RangeError(`cannot divide ${a} by zero (task ${currentTask()?.name})`);
  return a / b;
}
