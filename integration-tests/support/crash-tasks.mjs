// Tasks for the crash tests: short I/O-like work so 2,000 tasks take a few seconds.
export async function work(index) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return index;
}

/** Which process ran it, for tests that check several clusters share a queue. */
export async function workWhere(index) {
  await new Promise((resolve) => setTimeout(resolve, 5));
  return [index, process.pid];
}
