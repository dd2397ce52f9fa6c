/**
 * Where a dictionary's tensors come from: a safetensors file (headers read at once, tensors and single
 * rows read on demand by byte range) or an .npz archive (read whole on first use, since a zip entry
 * cannot be sliced cheaply; large arrays are handed over once and not kept, so the dictionary's own
 * cache is the only copy).
 *
 * Errors from the underlying readers become DICTIONARY_INVALID naming the file.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { EngineError, isEngineError } from '../errors';
import { SafetensorsFile, toFloat32 } from '../bundle/safetensors';
import { readNpz, type NpyArray } from './npy';

export interface TensorSource {
  /** For messages: the file as the user named it (relative to the dictionary folder). */
  readonly file: string;
  has(name: string): boolean;
  shape(name: string): number[];
  read(name: string): Float32Array;
  /** Rows of the tensor viewed as [numel / rowLen, rowLen], in the order asked. */
  readRows(name: string, rows: ArrayLike<number>, rowLen: number): Float32Array;
  /** Whether shape() is cheap (no tensor data read). */
  readonly cheapShapes: boolean;
  release(): void;
}

export function asDictionaryError(e: unknown, file: string): never {
  if (isEngineError(e) && (e.code === 'SAFETENSORS_INVALID' || e.code === 'MODEL_NOT_FOUND')) {
    throw new EngineError('DICTIONARY_INVALID', e.message.includes(file) ? e.message : `${file}: ${e.message}`, e.hint ?? 'The file may be truncated or corrupt; download it again.');
  }
  throw e;
}

function missing(file: string, name: string): never {
  throw new EngineError('DICTIONARY_INVALID', `${file} has no tensor "${name}".`, 'The file is not in the expected dictionary format, or it is incomplete.');
}

export class SafetensorsSource implements TensorSource {
  readonly cheapShapes = true;
  private readonly st: SafetensorsFile;

  constructor(path: string, readonly file: string) {
    try {
      this.st = SafetensorsFile.open(path);
    } catch (e) {
      asDictionaryError(e, file);
    }
  }

  has(name: string): boolean {
    return this.st.has(name);
  }

  shape(name: string): number[] {
    if (!this.st.has(name)) missing(this.file, name);
    return this.st.info(name).shape;
  }

  read(name: string): Float32Array {
    if (!this.st.has(name)) missing(this.file, name);
    try {
      return this.st.readF32(name);
    } catch (e) {
      asDictionaryError(e, this.file);
    }
  }

  readRows(name: string, rows: ArrayLike<number>, rowLen: number): Float32Array {
    if (!this.st.has(name)) missing(this.file, name);
    const t = this.st.info(name);
    const item = (t.end - t.begin) / Math.max(1, t.shape.reduce((a, s) => a * s, 1));
    const nRows = (t.end - t.begin) / item / rowLen;
    const out = new Float32Array(rows.length * rowLen);
    const buf = Buffer.alloc(rowLen * item);
    const fd = openSync(this.st.path, 'r');
    try {
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        if (!Number.isInteger(r) || r < 0 || r >= nRows) throw new EngineError('INTERNAL', `Row ${r} of ${this.file}:${name} is out of range (0…${nRows - 1}).`);
        const n = readSync(fd, buf, 0, buf.length, t.begin + r * rowLen * item);
        if (n !== buf.length) throw new EngineError('DICTIONARY_INVALID', `${this.file}: tensor "${name}" could not be read (truncated?).`);
        out.set(toFloat32(buf, t.dtype, `${this.file}:${name}`), i * rowLen);
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  release(): void {}
}

/** Arrays below this many elements (biases, thresholds) stay cached; larger ones are handed over once. */
const KEEP_NUMEL = 1 << 20;

export class NpzSource implements TensorSource {
  readonly cheapShapes = false;
  private arrays?: Map<string, NpyArray>;
  private shapes?: Map<string, number[]>;

  constructor(private readonly path: string, readonly file: string) {}

  private load(): Map<string, NpyArray> {
    if (!this.arrays) {
      this.arrays = readNpz(this.path, this.file);
      this.shapes = new Map([...this.arrays].map(([k, v]) => [k, v.shape]));
    }
    return this.arrays;
  }

  private shapeMap(): Map<string, number[]> {
    if (!this.shapes) this.load();
    return this.shapes!;
  }

  has(name: string): boolean {
    return this.shapeMap().has(name);
  }

  shape(name: string): number[] {
    const s = this.shapeMap().get(name);
    if (!s) missing(this.file, name);
    return s;
  }

  read(name: string): Float32Array {
    if (!this.has(name)) missing(this.file, name);
    // A large array handed over earlier is no longer cached: read the archive again.
    if (this.arrays && !this.arrays.has(name)) this.arrays = undefined;
    const arrays = this.load();
    const a = arrays.get(name)!;
    if (a.data.length > KEEP_NUMEL) arrays.delete(name);
    if (arrays.size === 0) this.arrays = undefined;
    return a.data;
  }

  readRows(name: string, rows: ArrayLike<number>, rowLen: number): Float32Array {
    const all = this.read(name);
    const out = new Float32Array(rows.length * rowLen);
    for (let i = 0; i < rows.length; i++) out.set(all.subarray(rows[i] * rowLen, (rows[i] + 1) * rowLen), i * rowLen);
    return out;
  }

  release(): void {
    this.arrays = undefined;
  }
}
