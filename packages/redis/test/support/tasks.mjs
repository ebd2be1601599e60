// Tasks for the Redis cluster tests: worker threads import this module by path.
export function add(a, b) {
  return a + b;
}

export function fail(message = 'boom') {
  const error = new Error(message);
  error.code = 'E_TEST';
  throw error;
}

export async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
}
