/**
 * "Did you mean …?" for typos in option names, TASKQ_* variables and task
 * names: the valid name closest by edit distance, if it is close enough to be
 * a typo rather than a different word.
 */

/** Levenshtein distance (insertions, deletions, substitutions), case-sensitive. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The candidate closest to `name` (case-insensitively), or undefined when none
 * is within `maxDistance` (default: a third of the name's length, at least 2).
 */
export function closestName(
  name: string,
  candidates: Iterable<string>,
  maxDistance = Math.max(2, Math.floor(name.length / 3)),
): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= maxDistance ? best : undefined;
}

/** ` (did you mean "x"?)` or '' — appended to messages about an unknown name. */
export function didYouMean(name: string, candidates: Iterable<string>, quote = '"'): string {
  const match = closestName(name, candidates);
  return match === undefined ? '' : ` (did you mean ${quote}${match}${quote}?)`;
}
