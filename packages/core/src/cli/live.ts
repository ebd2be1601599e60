import { stripAnsi, visibleLength } from './format.js';

/**
 * A full-screen view redrawn every `intervalMs` until the user presses `q`
 * (or Ctrl-C, or the process gets SIGINT/SIGTERM). stdin goes to raw mode so
 * one key press is enough; the terminal is restored on the way out.
 */
export async function runLive(render: () => Promise<string>, intervalMs = 1000): Promise<void> {
  const out = process.stdout;
  const input = process.stdin;
  const tty = out.isTTY === true;
  let stopped = false;
  let wake: (() => void) | null = null;
  const quit = () => {
    stopped = true;
    wake?.();
  };
  const onKey = (data: Buffer | string) => {
    // q, Q, Ctrl-C (0x03) or Ctrl-D (0x04): raw mode delivers them as bytes, not signals
    if ([...data.toString()].some((ch) => ch === 'q' || ch === 'Q' || ch === '\u0003' || ch === '\u0004')) quit();
  };
  if (input.isTTY) input.setRawMode(true);
  input.on('data', onKey);
  input.resume();
  process.on('SIGINT', quit);
  process.on('SIGTERM', quit);
  if (tty) out.write('\x1b[?1049h\x1b[?25l'); // alternate screen, hide cursor
  try {
    while (!stopped) {
      let frame: string;
      try {
        frame = await render();
      } catch (error) {
        frame = `Error: ${(error as Error).message}\n`;
      }
      if (stopped) break;
      out.write(tty ? `\x1b[H\x1b[2J${fitWidth(frame, out.columns)}` : `${frame}\n`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    if (tty) out.write('\x1b[?25h\x1b[?1049l');
    input.off('data', onKey);
    if (input.isTTY) input.setRawMode(false);
    input.pause();
    process.off('SIGINT', quit);
    process.off('SIGTERM', quit);
  }
}

/** Lines wider than the terminal would wrap and scroll the table: cut them (losing their colours). */
function fitWidth(frame: string, columns: number | undefined): string {
  if (!columns) return frame;
  return frame
    .split('\n')
    .map((line) => (visibleLength(line) > columns ? stripAnsi(line).slice(0, columns) : line))
    .join('\n');
}
