/**
 * The weights of a checkpoint folder, single-file or sharded, behind one `get(name, shape)` call.
 *
 * Architecture mappings ask for a tensor by its Hugging Face name and the shape the config implies;
 * this module finds the shard that holds it, checks the shape, and widens it to float32. Every
 * failure names the file and tensor, because "tensor missing" without a name is useless to a user
 * holding a 5 GB download.
 */
import { closeSync, existsSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../errors';
import { readUserJson } from '../user-files';

/** Whether `p` is a regular file (a dangling link or an unreadable entry is not). */
function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
import { bf16ToF32, f16ToF32, SafetensorsFile, type TensorInfo } from './safetensors';

export class WeightStore {
  /** Tensor name → the file that holds it. */
  private readonly where = new Map<string, SafetensorsFile>();
  readonly files: SafetensorsFile[];

  private constructor(readonly dir: string, files: SafetensorsFile[], indexMap?: Map<string, string>) {
    this.files = files;
    for (const f of files) for (const name of f.tensors.keys()) this.where.set(name, f);
    if (indexMap) {
      // An index that names a tensor its shard does not hold is a broken download; say which.
      for (const [name, file] of indexMap) {
        const f = this.where.get(name);
        if (!f) {
          throw new EngineError(
            'TENSOR_MISSING',
            `model.safetensors.index.json maps "${name}" to ${file}, but ${file} does not contain it.`,
            'The shard may be incomplete; download the checkpoint again.',
          );
        }
      }
    }
  }

  /** Opens `model.safetensors.index.json` shards, or `model.safetensors`, or every `*.safetensors` in the folder. */
  static open(dir: string): WeightStore {
    const indexPath = join(dir, 'model.safetensors.index.json');
    if (existsSync(indexPath)) {
      const index = readUserJson(indexPath, 'model.safetensors.index.json', 'SAFETENSORS_INVALID', 64 * 1024 ** 2, 'Download the checkpoint again.') as { weight_map?: unknown } | null;
      const map = index && typeof index === 'object' && Object.prototype.hasOwnProperty.call(index, 'weight_map') ? index.weight_map : undefined;
      if (!map || typeof map !== 'object' || Array.isArray(map)) {
        throw new EngineError('SAFETENSORS_INVALID', `${indexPath} has no "weight_map" object.`, 'Download the checkpoint again.');
      }
      const shardNames = [...new Set(Object.values(map as Record<string, unknown>))].sort();
      const files = shardNames.map((s) => {
        // A shard is a file name in the folder (or below it): not empty, not ".", never outside the folder.
        const parts = typeof s === 'string' ? s.split(/[\\/]/) : [];
        if (typeof s !== 'string' || !s || s.startsWith('/') || parts.some((q) => q === '' || q === '.' || q === '..') || s.includes('\0')) {
          throw new EngineError('SAFETENSORS_INVALID', `${indexPath} names an invalid shard path ${JSON.stringify(s)}.`, 'Download the checkpoint again.');
        }
        const p = join(dir, s);
        if (!existsSync(p)) {
          throw new EngineError('MODEL_NOT_FOUND', `Shard ${s} listed in model.safetensors.index.json is missing from ${dir}.`, 'Download every shard of the checkpoint.');
        }
        return SafetensorsFile.open(p);
      });
      return new WeightStore(dir, files, new Map(Object.entries(map as Record<string, string>)));
    }
    const single = join(dir, 'model.safetensors');
    const names = existsSync(single)
      ? ['model.safetensors']
      : readdirSync(dir).filter((n) => n.endsWith('.safetensors') && isFile(join(dir, n))).sort();
    if (!names.length) {
      throw new EngineError(
        'MODEL_NOT_FOUND',
        `No weights in ${dir}: expected model.safetensors or model.safetensors.index.json with its shards.`,
        'Point to a Hugging Face model folder with safetensors weights (PyTorch .bin files are not read).',
      );
    }
    return new WeightStore(dir, names.map((n) => SafetensorsFile.open(join(dir, n))));
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  info(name: string): TensorInfo | undefined {
    return this.where.get(name)?.tensors.get(name);
  }

  /** Total bytes of the weight files. */
  bytes(): number {
    return this.files.reduce((a, f) => a + f.fileBytes, 0);
  }

  /** The tensor as float32, after checking it exists with exactly `shape`. */
  get(name: string, shape: number[]): Float32Array {
    const { f, info } = this.check(name, shape);
    return readF32Direct(f, info);
  }

  /**
   * Checks that the tensor exists with exactly `shape` and a float dtype, without reading its data:
   * lazily read weights fail at load, with the same messages, not at their first use.
   */
  check(name: string, shape: number[]): { f: SafetensorsFile; info: TensorInfo } {
    const f = this.where.get(name);
    if (!f) {
      throw new EngineError(
        'TENSOR_MISSING',
        `Tensor "${name}" (expected shape [${shape.join(', ')}]) is missing from the weights in ${this.dir}.`,
        'The checkpoint is incomplete or is not the architecture its config.json names.',
      );
    }
    const info = f.tensors.get(name)!;
    if (info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
      throw new EngineError(
        'TENSOR_SHAPE',
        `Tensor "${name}" in ${f.path} has shape [${info.shape.join(', ')}], but config.json implies [${shape.join(', ')}].`,
        'config.json and the weights disagree; check that they come from the same checkpoint.',
      );
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16' && info.dtype !== 'F64') {
      throw new EngineError(
        'UNSUPPORTED_DTYPE',
        `Tensor "${name}" in ${f.path} is ${info.dtype}; weights must be F32, F16 or BF16.`,
        'Quantised checkpoints are not supported; use the f32/f16/bf16 release.',
      );
    }
    return { f, info };
  }
}

/**
 * Reads a float tensor straight into the typed array that will hold it (F32) or its half-width
 * source (F16/BF16), skipping the intermediate Buffer and aligned copy of a generic read: loading a
 * multi-GB checkpoint then costs one pass over the bytes and no transient second copy of each tensor.
 */
function readF32Direct(f: SafetensorsFile, info: TensorInfo): Float32Array {
  if (info.dtype === 'F64') return f.readF32(info.name);
  const n = info.end - info.begin;
  const out = info.dtype === 'F32' ? new Float32Array(n / 4) : new Uint16Array(n / 2);
  const bytes = new Uint8Array(out.buffer);
  const fd = openSync(f.path, 'r');
  try {
    let done = 0;
    while (done < n) {
      const got = readSync(fd, bytes, done, Math.min(n - done, 1 << 30), info.begin + done);
      if (got <= 0) {
        throw new EngineError('SAFETENSORS_INVALID', `${f.path}: tensor "${info.name}" could not be read completely (file truncated while loading?).`, 'Download the checkpoint again.');
      }
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  if (out instanceof Float32Array) return out;
  return info.dtype === 'BF16' ? bf16ToF32(out) : f16ToF32(out);
}
