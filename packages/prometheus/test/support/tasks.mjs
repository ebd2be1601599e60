// Task functions for the metrics tests; worker threads import this module by path.
export function add(a, b) {
  return a + b;
}

export function fail() {
  const error = new Error('boom');
  error.code = 'E_TEST';
  throw error;
}

export async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
}

export function spin() {
  for (;;) {
    /* runaway loop: only a timeout stops it */
  }
}
