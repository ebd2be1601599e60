// Tasks for the CLI test: a cluster started by `taskq cluster` loads this module.
export async function double(n) {
  return n * 2;
}
