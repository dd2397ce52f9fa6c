/**
 * safetensors files: an 8-byte little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the data. We read tensors one at a time by byte range, so a multi-GB
 * checkpoint is never held twice in memory, and we validate the header against the file before
 * trusting any offset in it (a truncated download or a hostile file must fail with a clear error).
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { EngineError } from '../errors';
import { openRegularFile, parseUserJson } from '../user-files';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offsets in the file. */
  begin: number;
  end: number;
}

/** Headers above this size are not real checkpoints; refusing them keeps a lying header from allocating GBs. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsFile {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  readonly fileBytes: number;

  private constructor(readonly path: string) {
    // Regular files only: a FIFO or device in place of a shard would block or never end.
    const { fd, size } = openRegularFile(path, 'The weights file', 'SAFETENSORS_INVALID', 'Point to a folder of real safetensors files.');
    try {
      this.fileBytes = size;
      this.parseHeader(fd);
    } finally {
      closeSync(fd);
    }
  }

  static open(path: string): SafetensorsFile {
    return new SafetensorsFile(path);
  }

  private fail(why: string): never {
    throw new EngineError(
      'SAFETENSORS_INVALID',
      `${this.path} is not a valid safetensors file: ${why}.`,
      'The file may be truncated or corrupt; download it again.',
    );
  }

  private parseHeader(fd: number): void {
    if (this.fileBytes < 8) this.fail(`it is ${this.fileBytes} bytes long, shorter than the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER_BYTES) this.fail(`the header claims ${headerLen} bytes`);
    if (8 + headerLen > this.fileBytes) this.fail(`the header claims ${headerLen} bytes but the file has only ${this.fileBytes - 8} after the length`);
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: unknown;
    try {
      header = parseUserJson(headerBuf.toString('utf8'), 'header', 'SAFETENSORS_INVALID', undefined, 16);
    } catch (e) {
      this.fail(`its header is not JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) this.fail('its header is not a JSON object');
    const dataStart = 8 + headerLen;
    const dataBytes = this.fileBytes - dataStart;
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw && typeof raw === 'object') {
          for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') this.metadata[k] = v;
        }
        continue;
      }
      const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!entry || typeof entry !== 'object') this.fail(`entry "${name}" is not an object`);
      const dtype = entry.dtype;
      if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(ITEM_SIZE, dtype)) {
        throw new EngineError(
          'UNSUPPORTED_DTYPE',
          `Tensor ${JSON.stringify(name)} in ${this.path} has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(ITEM_SIZE).join(', ')}.`,
          'Convert the checkpoint to f32, f16 or bf16 safetensors.',
        );
      }
      const shape = entry.shape;
      if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) this.fail(`tensor "${name}" has an invalid shape`);
      const offs = entry.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
        this.fail(`tensor "${name}" has invalid data_offsets`);
      }
      const [b, e] = offs as [number, number];
      const numel = (shape as number[]).reduce((a, s) => a * s, 1);
      const want = numel * ITEM_SIZE[dtype as SafetensorsDtype];
      if (e < b || e - b !== want) this.fail(`tensor "${name}" spans ${e - b} bytes but its shape ${JSON.stringify(shape)} × ${dtype} needs ${want}`);
      if (e > dataBytes) this.fail(`tensor "${name}" ends at byte ${e} of the data but the file holds only ${dataBytes} (truncated?)`);
      this.tensors.set(name, { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
    }
    // Two tensors sharing bytes is not something a writer produces; reading them would alias weights.
    const spans = [...this.tensors.values()].filter((t) => t.end > t.begin).sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i].begin < spans[i - 1].end) {
        this.fail(`tensors ${JSON.stringify(spans[i - 1].name)} and ${JSON.stringify(spans[i].name)} overlap (bytes ${spans[i].begin - dataStart}–${Math.min(spans[i].end, spans[i - 1].end) - dataStart} of the data)`);
      }
    }
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new EngineError('TENSOR_MISSING', `Tensor "${name}" is not in ${this.path}.`);
    return t;
  }

  /** The tensor's raw bytes (little-endian, as stored). */
  readBytes(name: string): Buffer {
    const t = this.info(name);
    const buf = Buffer.alloc(t.end - t.begin);
    const fd = openSync(this.path, 'r');
    try {
      let done = 0;
      while (done < buf.length) {
        const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), t.begin + done);
        if (n <= 0) this.fail(`tensor "${name}" could not be read completely`);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** The tensor widened (or narrowed, for F64) to float32. */
  readF32(name: string): Float32Array {
    const t = this.info(name);
    return toFloat32(this.readBytes(name), t.dtype, `${this.path}:${name}`);
  }
}

export function toFloat32(bytes: Buffer, dtype: SafetensorsDtype, what = 'tensor'): Float32Array {
  // Copy into an aligned buffer: Buffer slices may start at any byte offset.
  const ab = new ArrayBuffer(bytes.length);
  new Uint8Array(ab).set(bytes);
  switch (dtype) {
    case 'F32':
      return new Float32Array(ab);
    case 'F64':
      return Float32Array.from(new Float64Array(ab));
    case 'F16':
      return f16ToF32(new Uint16Array(ab));
    case 'BF16':
      return bf16ToF32(new Uint16Array(ab));
    case 'I64':
      return Float32Array.from(new BigInt64Array(ab), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(ab));
    case 'I16':
      return Float32Array.from(new Int16Array(ab));
    case 'I8':
      return Float32Array.from(new Int8Array(ab));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(new Uint8Array(ab));
    default:
      throw new EngineError('UNSUPPORTED_DTYPE', `Cannot convert ${what} of dtype ${String(dtype)} to float32.`);
  }
}

export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
  return new Float32Array(out.buffer);
}

const F16_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = F16_TABLE[src[i]];
  return out;
}

/** Round-to-nearest-even float32 → float16 bits, for half-precision graphs. */
export function f32ToF16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < src.length; i++) {
    f[0] = src[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0);
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00;
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      mant |= 0x800000;
      const shift = 14 - e;
      let h = mant >> shift;
      const rem = mant & ((1 << shift) - 1);
      const half = 1 << (shift - 1);
      if (rem > half || (rem === half && h & 1)) h++;
      out[i] = sign | h;
      continue;
    }
    let h = (e << 10) | (mant >> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
    out[i] = sign | h;
  }
  return out;
}

export interface TensorToWrite {
  dtype: 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';
  shape: number[];
  data: Float32Array | Uint16Array | BigInt64Array | Int32Array;
}

/** Writes a safetensors file (used by tests, fixtures and caches). */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  writeFileSync(path, Buffer.concat([len, headerBytes, ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]));
}
