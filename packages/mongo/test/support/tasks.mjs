// Task module for the end-to-end tests: a cluster's worker threads import it.
export function add(a, b) {
  return a + b;
}
