// Task functions for the reporter tests; worker threads import this module by path.
export function charge(amount) {
  const error = new Error(`card declined for ${amount}`);
  error.code = 'E_DECLINED';
  throw error;
}

export function plainFailure() {
  throw new TypeError('undefined is not a function');
}

export function spin() {
  for (;;) {
    /* runaway loop: only a timeout stops it */
  }
}
