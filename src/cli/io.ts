/**
 * Where a CLI command writes. Everything goes through `CliIO`, so the program and the tests (which run
 * hundreds of bad command lines in-process) see the same output, and so every line is made safe for
 * a terminal in one place: model names, feature labels, prompts and paths come from files we do not
 * control, and an escape sequence in one of them must be shown, not obeyed.
 */

export interface CliIO {
  /** One line (or several) of standard output. */
  out(text: string): void;
  /** One line (or several) of standard error. */
  err(text: string): void;
  /** Progress on standard error, only when it is a terminal (no newline; `\r` rewinds). */
  progress(text: string): void;
  readonly isTTY: boolean;
}

/**
 * Control characters (C0 except newline and tab, DEL, C1) and bidirectional overrides written as
 * `\uXXXX`. The escape is valid inside a JSON string, so `--json` output stays parseable.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const processIO: CliIO = {
  out: (t) => void process.stdout.write(`${terminalSafe(t)}\n`),
  err: (t) => void process.stderr.write(`${terminalSafe(t)}\n`),
  progress: (t) => {
    if (process.stderr.isTTY) process.stderr.write(t.split('\r').map(terminalSafe).join('\r'));
  },
  get isTTY() {
    return Boolean(process.stderr.isTTY);
  },
};

/** An IO that keeps what is written, for tests and for callers that embed the CLI. */
export function capturingIO(): CliIO & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(t: string) {
      io.stdout += `${terminalSafe(t)}\n`;
    },
    err(t: string) {
      io.stderr += `${terminalSafe(t)}\n`;
    },
    progress() {},
    isTTY: false,
  };
  return io;
}
