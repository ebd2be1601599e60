import { randomUUID } from 'node:crypto';
import { WORDS } from './wordlist.js';

/** A task id: a uuid4 as 32 lowercase hex characters (Django Q's format). */
export function newTaskId(): string {
  return randomUUID().replaceAll('-', '');
}

/**
 * Django Q's humanhash idea: fold the id's 16 bytes into `words` segments by
 * XOR and map each segment to a word, so a person can say and search a task's
 * name ("mango-tiger-eleven-oscar").
 */
export function humanize(hexId: string, words = 4): string {
  const bytes = Buffer.from(hexId, 'hex');
  const size = Math.floor(bytes.length / words);
  const out: string[] = [];
  for (let w = 0; w < words; w++) {
    const end = w === words - 1 ? bytes.length : (w + 1) * size;
    let folded = 0;
    for (let i = w * size; i < end; i++) folded ^= bytes[i] ?? 0;
    out.push(WORDS[folded] ?? 'zero');
  }
  return out.join('-');
}

export function isTaskId(value: string): boolean {
  return /^[0-9a-f]{32}$/.test(value);
}
