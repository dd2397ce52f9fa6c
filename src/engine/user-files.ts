/**
 * Reading files a user pointed us at (model folders, dictionaries, prompts, graph files). Each read
 * - opens without blocking and accepts only regular files: a FIFO, socket or device in place of
 *   config.json would otherwise block forever or stream without end;
 * - bounds the size before reading, so a lying or enormous file is refused, not loaded;
 * - turns file-system errors into one sentence naming the path (EngineError with the caller's code);
 * - for JSON, refuses nesting deeper than real files ever have before parsing, so a hostile file
 *   cannot overflow the stack later (JSON.stringify and every recursive walk are recursive).
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { EngineError, type EngineErrorCode } from './errors';
import { fsErrorMessage } from './fs-errors';

/** What a file is, for "X is a folder, not a file". */
function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/** Opens a regular file for reading, or throws an EngineError naming it. The caller closes the fd. */
export function openRegularFile(path: string, what: string, code: EngineErrorCode, hint?: string): { fd: number; size: number } {
  if (path === '') throw new EngineError(code, `${what} has an empty path.`, hint);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new EngineError(code, fsErrorMessage(e, `${what}`) ?? `${what} ${path} cannot be opened: ${(e as Error).message}.`, hint);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const k = kindOf(st);
      throw new EngineError(code, `${what} ${path} is ${k === 'a folder' ? 'a folder, not a file' : `${k}; only regular files are read`}.`, hint);
    }
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** The whole file, at most `maxBytes` long. */
export function readUserFile(path: string, what: string, code: EngineErrorCode, maxBytes: number, hint?: string): Buffer {
  const { fd, size } = openRegularFile(path, what, code, hint);
  try {
    if (size > maxBytes) {
      throw new EngineError(code, `${what} ${path} is ${formatSize(size)}, more than the ${formatSize(maxBytes)} such a file can sensibly be.`, hint);
    }
    const buf = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      let n: number;
      try {
        n = readSync(fd, buf, done, Math.min(size - done, 1 << 30), done);
      } catch (e) {
        throw new EngineError(code, fsErrorMessage(e, what) ?? `${what} ${path} could not be read: ${(e as Error).message}.`, hint);
      }
      if (n <= 0) break;
      done += n;
    }
    return done === size ? buf : buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

export function readUserTextFile(path: string, what: string, code: EngineErrorCode, hint?: string, maxBytes = 64 * 1024 ** 2): string {
  return readUserFile(path, what, code, maxBytes, hint).toString('utf8');
}

/** JSON nesting deeper than this is not a configuration or tokenizer anyone wrote. */
export const MAX_JSON_DEPTH = 256;

/** The deepest [ / { nesting in JSON text (strings skipped); stops counting once past `limit`. */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** Parses JSON text, refusing over-deep nesting first; `what` names the file in errors. */
export function parseUserJson(text: string, what: string, code: EngineErrorCode, hint?: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (jsonDepth(text, maxDepth) > maxDepth) {
    throw new EngineError(code, `${what} nests objects or arrays more than ${maxDepth} levels deep; no real file does.`, hint);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new EngineError(code, `${what} is not valid JSON: ${(e as Error).message}.`, hint);
  }
}

/** Reads and parses a JSON file (size- and depth-bounded). */
export function readUserJson(path: string, what: string, code: EngineErrorCode, maxBytes: number, hint?: string): unknown {
  return parseUserJson(readUserTextFile(path, what, code, hint, maxBytes), `${what} ${path}`, code, hint);
}

/** Whether `o` has `k` as its own property: a look-up by a name from a file must not find `toString`. */
export function hasOwn(o: unknown, k: string): boolean {
  return typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k);
}

export function formatSize(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${n} bytes`;
}
