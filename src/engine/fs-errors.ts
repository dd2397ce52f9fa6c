/**
 * File-system failures in words. Node reports them as "EACCES: permission denied, open '/x'"; a user
 * needs one sentence naming the path and what is wrong with it. Engine code that reads or writes a
 * path the user chose wraps the call in `userPathError`, which turns the errno into an EngineError.
 */
import { EngineError, type EngineErrorCode } from './errors';

const REASONS = new Map<string, string>([
  ['ENOENT', 'does not exist'],
  ['ENOTDIR', 'is inside something that is not a folder'],
  ['EISDIR', 'is a folder, not a file'],
  ['EACCES', 'cannot be accessed (permission denied)'],
  ['EPERM', 'cannot be accessed (operation not permitted)'],
  ['EROFS', 'is on a read-only file system'],
  ['ENOSPC', 'cannot be written: the disk is full'],
  ['EDQUOT', 'cannot be written: the disk quota is exceeded'],
  ['EEXIST', 'already exists'],
  ['ENAMETOOLONG', 'is too long a name for the file system'],
  ['ELOOP', 'has too many levels of symbolic links'],
  ['EMFILE', 'cannot be opened: too many open files'],
  ['EBUSY', 'is busy'],
  ['EINVAL', 'is not a valid path'],
  ['EFBIG', 'cannot be written: the file would be too large'],
  ['EIO', 'could not be read or written (input/output error)'],
]);

interface ErrnoLike {
  code?: unknown;
  path?: unknown;
  dest?: unknown;
  syscall?: unknown;
}

/** One sentence for a Node file-system error, or undefined when `e` is not one. */
export function fsErrorMessage(e: unknown, what?: string): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, path } = e as ErrnoLike;
  if (typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return undefined;
  const reason = REASONS.get(code) ?? `cannot be used (${code})`;
  const p = typeof path === 'string' ? path : undefined;
  const subject = what && p !== undefined ? (what.includes(p) && p ? what : `${what} ${p === '' ? '""' : p}`) : what ?? (p !== undefined ? (p === '' ? 'The empty path ""' : p) : undefined);
  if (!subject) return undefined;
  return `${subject.charAt(0).toUpperCase()}${subject.slice(1)} ${reason}.`;
}

/** Runs `f`; a file-system error becomes an EngineError naming the path (`what` says what it is). */
export function userPathError<T>(code: EngineErrorCode, what: string, f: () => T, hint?: string): T {
  try {
    return f();
  } catch (e) {
    const msg = fsErrorMessage(e, what);
    if (msg) throw new EngineError(code, msg, hint);
    throw e;
  }
}
