/**
 * NumPy `.npy` arrays and `.npz` archives (a zip of `.npy` files, as Gemma Scope ships `params.npz`).
 *
 * The parser is deliberately strict: the magic, a known version, a header that is exactly a Python
 * dict literal with `descr`, `fortran_order` and `shape`, a little-endian float dtype (<f4, <f2, <f8),
 * C order, and a data section of exactly the size the shape says. Anything else is refused with a
 * message naming the file and the array, never guessed at: a misread weight matrix would give wrong
 * features silently. Unzipping uses fflate (a maintained zip reader).
 */
import { constants as bufferConstants } from 'node:buffer';
import { totalmem } from 'node:os';
import { unzipSync } from 'fflate';
import { EngineError } from '../errors';
import { formatSize, readUserFile } from '../user-files';
import { f16ToF32 } from '../bundle/safetensors';

export interface NpyArray {
  shape: number[];
  /** The stored dtype; data is always widened / narrowed to float32. */
  dtype: '<f4' | '<f2' | '<f8';
  data: Float32Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM: Record<NpyArray['dtype'], number> = { '<f4': 4, '<f2': 2, '<f8': 8 };

function bad(what: string, why: string): never {
  throw new EngineError('DICTIONARY_INVALID', `${what} is not a valid .npy array: ${why}.`, 'The file may be truncated or corrupt; download it again.');
}

type HeaderValue = string | boolean | number[];

/** Parses the header's Python dict literal: string keys; values 'str', True/False, or a tuple of ints. */
function parseHeaderDict(src: string, what: string): Map<string, HeaderValue> {
  let i = 0;
  const ws = () => {
    while (i < src.length && /\s/.test(src[i])) i++;
  };
  const expect = (c: string) => {
    ws();
    if (src[i] !== c) bad(what, `its header has ${JSON.stringify(src[i] ?? 'end')} where ${JSON.stringify(c)} was expected (header: ${JSON.stringify(src.slice(0, 120))})`);
    i++;
  };
  const quoted = (): string => {
    ws();
    const q = src[i];
    if (q !== "'" && q !== '"') bad(what, 'its header has a key or value that is not a quoted string');
    const end = src.indexOf(q, i + 1);
    if (end < 0) bad(what, 'its header has an unterminated string');
    const s = src.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const out = new Map<string, HeaderValue>();
  expect('{');
  ws();
  while (src[i] !== '}') {
    const key = quoted();
    if (out.has(key)) bad(what, `its header repeats the key ${key}`);
    expect(':');
    ws();
    let value: HeaderValue;
    if (src[i] === "'" || src[i] === '"') value = quoted();
    else if (src.startsWith('True', i)) { value = true; i += 4; }
    else if (src.startsWith('False', i)) { value = false; i += 5; }
    else if (src[i] === '(') {
      const end = src.indexOf(')', i);
      if (end < 0) bad(what, 'its header has an unterminated shape tuple');
      const inner = src.slice(i + 1, end).trim();
      const parts = inner === '' ? [] : inner.split(',').map((p) => p.trim());
      // "(5,)" splits into ["5", ""]: a trailing comma is allowed, an empty middle element is not.
      if (parts.length && parts[parts.length - 1] === '') parts.pop();
      value = parts.map((p) => {
        if (!/^\d+$/.test(p)) bad(what, `its shape has the element ${JSON.stringify(p)}`);
        const n = Number(p);
        if (!Number.isSafeInteger(n)) bad(what, `its shape element ${p} is too large`);
        return n;
      });
      i = end + 1;
    } else bad(what, `its header has an unsupported value for ${key}`);
    out.set(key, value);
    ws();
    if (src[i] === ',') i++;
    ws();
    if (i >= src.length) bad(what, 'its header dict is not closed');
  }
  i++;
  ws();
  if (i !== src.length) bad(what, 'its header has text after the dict');
  return out;
}

/** Parses one .npy file's bytes. `what` names it in errors (e.g. "params.npz:W_enc.npy"). */
export function parseNpy(bytes: Uint8Array, what: string): NpyArray {
  if (bytes.length < 10 || !MAGIC.every((b, k) => bytes[k] === b)) bad(what, 'it does not start with the \\x93NUMPY magic');
  const major = bytes[6];
  const minor = bytes[7];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1 && minor === 0) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if ((major === 2 || major === 3) && minor === 0) {
    if (bytes.length < 12) bad(what, 'it is shorter than its header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else bad(what, `it has format version ${major}.${minor}; supported: 1.0, 2.0, 3.0`);
  if (start + headerLen > bytes.length) bad(what, `its header claims ${headerLen} bytes but the file has ${bytes.length - start}`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const dict = parseHeaderDict(header.trim(), what);
  for (const k of dict.keys()) if (k !== 'descr' && k !== 'fortran_order' && k !== 'shape') bad(what, `its header has the unknown key ${k}`);
  const descr = dict.get('descr');
  const fortran = dict.get('fortran_order');
  const shape = dict.get('shape');
  if (typeof descr !== 'string') bad(what, 'its header has no dtype (descr)');
  if (!Object.prototype.hasOwnProperty.call(ITEM, descr)) {
    throw new EngineError(
      'UNSUPPORTED_DTYPE',
      `${what} has dtype ${descr}; supported: little-endian float32 (<f4), float16 (<f2), float64 (<f8).`,
      'Re-save the array as float32 with numpy (arr.astype("<f4")).',
    );
  }
  if (fortran !== false) bad(what, fortran === true ? 'it is stored in Fortran order; only C order is supported (np.ascontiguousarray)' : 'its header has no fortran_order');
  if (!Array.isArray(shape)) bad(what, 'its header has no shape tuple');
  const dtype = descr as NpyArray['dtype'];
  const numel = shape.reduce((a, s) => a * s, 1);
  const dataStart = start + headerLen;
  const want = numel * ITEM[dtype];
  const have = bytes.length - dataStart;
  if (have !== want) bad(what, `its shape (${shape.join(', ')}) × ${dtype} needs ${want} bytes of data but it has ${have}`);
  // Copy into an aligned buffer: the data may start at any byte offset of the archive.
  const ab = new ArrayBuffer(want);
  new Uint8Array(ab).set(bytes.subarray(dataStart));
  let data: Float32Array;
  if (dtype === '<f4') data = new Float32Array(ab);
  else if (dtype === '<f2') data = f16ToF32(new Uint16Array(ab));
  else data = Float32Array.from(new Float64Array(ab));
  return { shape, dtype, data };
}

/**
 * Limits on what an archive may unpack to (a zip bomb must not exhaust memory): the arrays together
 * at most half the machine's memory (and 16 GB), and nothing big that compresses more than 20:1 —
 * float weights barely compress (numpy's savez does not even try), a bomb compresses 1000:1.
 */
const MAX_TOTAL_BYTES = Math.min(16 * 1024 ** 3, Math.floor(totalmem() / 2));
const MAX_RATIO = 20;
const RATIO_EXEMPT_BYTES = 16 * 1024 ** 2;

/** Reads every `.npy` array of an `.npz` archive, keyed by name without the `.npy` suffix. */
export function readNpz(path: string, file = path): Map<string, NpyArray> {
  const zip = readUserFile(path, `The archive`, 'DICTIONARY_INVALID', Math.min(bufferConstants.MAX_LENGTH, MAX_TOTAL_BYTES), 'Choose the dictionary folder that holds its params.npz.');
  let entries: Record<string, Uint8Array>;
  let total = 0;
  try {
    entries = unzipSync(zip, {
      filter: (f) => {
        if (!f.name.endsWith('.npy')) return false;
        total += f.originalSize;
        if (total > MAX_TOTAL_BYTES) {
          bad(`${file}:${f.name}`, `the archive's arrays claim ${formatSize(total)} uncompressed, more than this machine can hold (limit ${formatSize(MAX_TOTAL_BYTES)})`);
        }
        if (f.originalSize > RATIO_EXEMPT_BYTES && f.originalSize > MAX_RATIO * Math.max(1, f.size)) {
          bad(`${file}:${f.name}`, `it claims ${formatSize(f.originalSize)} uncompressed from ${formatSize(f.size)}; no float array compresses that well`);
        }
        return true;
      },
    });
  } catch (e) {
    if (e instanceof EngineError) throw e;
    throw new EngineError('DICTIONARY_INVALID', `${file} is not a valid .npz (zip) archive: ${(e as Error).message}.`, 'The file may be truncated or corrupt; download it again.');
  }
  const out = new Map<string, NpyArray>();
  for (const [name, bytes] of Object.entries(entries)) out.set(name.slice(0, -4), parseNpy(bytes, `${file}:${name}`));
  return out;
}
