/**
 * `wait` in the result functions is in milliseconds, as in Django Q: 0 checks
 * once, a positive number waits up to that long, -1 (or Infinity) waits forever.
 * Polling backs off from 5 ms to 100 ms.
 */
export async function poll<T>(check: () => Promise<T | null>, waitMs = 0): Promise<T | null> {
  const forever = waitMs < 0 || waitMs === Number.POSITIVE_INFINITY;
  const deadline = Date.now() + Math.max(0, waitMs);
  let delay = 5;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    const remaining = deadline - Date.now();
    if (!forever && remaining <= 0) return null;
    await new Promise((resolve) => setTimeout(resolve, forever ? delay : Math.min(delay, remaining)));
    delay = Math.min(delay * 2, 100);
  }
}
