// Tasks for the Redis crash tests: short I/O-like work so 2,000 tasks take a few seconds.
export async function work(index) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return index;
}
