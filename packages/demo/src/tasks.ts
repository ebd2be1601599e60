// The demo's task module: every exported function is a task, named by its export.
import { currentTask } from '@taskq/core/worker';

export function add(a: number, b: number): number {
  return a + b;
}

export async function fetchPrice(symbol: string): Promise<{ symbol: string; price: number }> {
  await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100));
  return { symbol, price: Math.round(symbol.length * 1234.5) / 100 };
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
