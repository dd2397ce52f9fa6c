/**
 * A small ONNX graph builder: every graph kind (forward with hooks, transcoder encode, linearised
 * backward, intervention forward) is written with it, so graph code reads like the maths
 * (`b.op('MatMul', [x, w])`) instead of protobuf plumbing.
 *
 * Opset 17 (ReduceMean/ReduceMax take `axes` as an attribute; Squeeze/Unsqueeze/ReduceSum/Split take
 * axes/splits as inputs). Large initializers can go to an external data file so models past protobuf's
 * 2 GB limit still load.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { onnx } from 'onnx-proto';
import { f32ToF16 } from '../bundle/safetensors';
import { toHalfPrecision, type GraphParts } from './precision';

export const OPSET = 17;

export type ElemType = 'float' | 'float16' | 'int64' | 'int32' | 'bool';

const ELEM: Record<ElemType, number> = {
  float: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** Explicitly typed attribute values: ONNX distinguishes int from float attributes. */
export type Attr =
  | { kind: 'int'; v: number }
  | { kind: 'float'; v: number }
  | { kind: 'ints'; v: number[] }
  | { kind: 'floats'; v: number[] }
  | { kind: 'string'; v: string };

export const int = (v: number): Attr => ({ kind: 'int', v });
export const float = (v: number): Attr => ({ kind: 'float', v });
export const ints = (v: number[]): Attr => ({ kind: 'ints', v });
export const floats = (v: number[]): Attr => ({ kind: 'floats', v });
export const str = (v: string): Attr => ({ kind: 'string', v });

export type Dim = number | string;

type InitData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/**
 * An initializer whose values are produced only while the model is serialised: `read` is called when
 * its bytes are written and `done` right after, so a graph over gigabytes of lazily read weights
 * never holds more than one of them at a time (external data) or keeps them past serialisation.
 */
export interface LazyInit {
  type: ElemType;
  numel: number;
  read(): InitData;
  /** The bytes are written: drop whatever `read` loaded. */
  done(): void;
}

/** A matrix as ModelSpec holds it, lazily read or not (see bundle/lazy-mat.ts). */
export interface MatLike {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
  readonly loaded?: boolean;
  release?(): void;
}

interface PendingInit {
  name: string;
  type: ElemType;
  dims: number[];
  data: InitData | LazyInit;
}

const BYTES: Record<ElemType, number> = { float: 4, float16: 2, int64: 8, int32: 4, bool: 1 };

function isLazy(d: InitData | LazyInit): d is LazyInit {
  return typeof (d as LazyInit).read === 'function';
}

function byteLengthOf(d: InitData | LazyInit): number {
  return isLazy(d) ? d.numel * BYTES[d.type] : d.byteLength;
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inits: PendingInit[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  /** Identical Float32Array objects become one initializer (tied embeddings, shared weights). */
  private readonly byArray = new Map<InitData, string>();
  /** Likewise identical lazy sources and matrices (a tied embedding is one Mat object). */
  private readonly bySource = new Map<object, string>();
  private counter = 0;

  constructor(readonly graphName: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    let name = prefix;
    while (this.used.has(name)) name = `${prefix}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    if (this.used.has(name)) throw new Error(`duplicate graph value ${name}`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Marks an existing value as a graph output, renaming it through Identity if needed. */
  output(value: string, name: string, type: ElemType = 'float', dims?: Dim[]): string {
    let out = value;
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`duplicate graph value ${name}`);
      this.used.add(name);
      this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: `out_${name}` });
      out = name;
    }
    this.outputs.push(valueInfo(out, type, dims));
    return out;
  }

  /** A weight. Passing the same typed array twice reuses one initializer. */
  init(prefix: string, data: InitData, dims: number[], type?: ElemType): string {
    const existing = this.byArray.get(data);
    if (existing) return existing;
    const t: ElemType = type ?? elemTypeOf(data);
    const numel = dims.reduce((a, d) => a * d, 1);
    if (numel !== data.length) throw new Error(`initializer ${prefix}: dims ${dims} hold ${numel} values, got ${data.length}`);
    const name = this.fresh(prefix);
    this.inits.push({ name, type: t, dims, data });
    this.byArray.set(data, name);
    return name;
  }

  /**
   * A weight whose values are read only when the model is serialised (and dropped after): the same
   * `key` object given twice is one initializer.
   */
  initLazy(prefix: string, key: object, src: LazyInit, dims: number[]): string {
    const existing = this.bySource.get(key);
    if (existing) return existing;
    const numel = dims.reduce((a, d) => a * d, 1);
    if (numel !== src.numel) throw new Error(`initializer ${prefix}: dims ${dims} hold ${numel} values, got ${src.numel}`);
    const name = this.fresh(prefix);
    this.inits.push({ name, type: src.type, dims, data: src });
    this.bySource.set(key, name);
    return name;
  }

  /**
   * A [rows, cols] weight matrix. A releasable matrix (a LazyMat) is serialised lazily: read when its
   * bytes are written, released right after unless it was in memory already (then someone uses it).
   * Any other matrix is an ordinary initializer of its array.
   */
  initMat(prefix: string, m: MatLike): string {
    if (typeof m.release !== 'function') return this.init(prefix, m.data, [m.rows, m.cols]);
    const release = m.release.bind(m);
    let keep = false;
    return this.initLazy(prefix, m, {
      type: 'float',
      numel: m.rows * m.cols,
      read: () => {
        keep = m.loaded === true;
        return m.data;
      },
      done: () => {
        if (!keep) release();
      },
    }, [m.rows, m.cols]);
  }

  constF(values: number[] | Float32Array, dims: number[] = [values.length], prefix = 'c'): string {
    return this.init(prefix, values instanceof Float32Array ? values : Float32Array.from(values), dims, 'float');
  }

  constI64(values: number[], dims: number[] = [values.length], prefix = 'ci'): string {
    return this.init(prefix, BigInt64Array.from(values.map((v) => BigInt(v))), dims, 'int64');
  }

  /** Scalar float constant (0-d). */
  scalar(v: number, prefix = 's'): string {
    return this.init(prefix, Float32Array.of(v), [], 'float');
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outName?: string): string {
    return this.opN(opType, inputs, 1, attrs, outName ? [outName] : undefined)[0];
  }

  opN(opType: string, inputs: string[], nOut: number, attrs: Record<string, Attr> = {}, outNames?: string[]): string[] {
    const outs = outNames ?? Array.from({ length: nOut }, () => this.fresh(opType.toLowerCase()));
    if (outNames) for (const n of outNames) {
      if (this.used.has(n)) throw new Error(`duplicate graph value ${n}`);
      this.used.add(n);
    }
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, a]) => attrProto(k, a)),
    });
    return outs;
  }

  /** Serialises with every initializer inline (fine under ~1.5 GB of weights). */
  toBytes(opts: SerializeOptions = {}): Uint8Array {
    const parts = this.parts(opts);
    // Inline, every tensor is in the one protobuf message: lazy ones are read for the encode and
    // dropped right after it.
    const lazy = parts.inits.filter((i) => isLazy(i.data));
    try {
      const tensors = parts.inits.map((i) => inlineTensor({ ...i, data: valuesOf(i.data) }));
      return onnx.ModelProto.encode(this.model(parts, tensors)).finish();
    } finally {
      for (const i of lazy) (i.data as LazyInit).done();
    }
  }

  /** The graph as plain parts, converted to half precision when asked (see precision.ts). */
  private parts(opts: SerializeOptions): Omit<GraphParts, 'inits'> & { inits: ProtoInit[] } {
    const inits: ProtoInit[] = this.inits.map((i) => ({ name: i.name, type: ELEM[i.type], dims: i.dims, data: i.data }));
    if (opts.precision !== 'f16') return { nodes: this.nodes, inits, inputs: this.inputs, outputs: this.outputs };
    // The half-precision pass converts initializer values eagerly; lazy ones go through it as empty
    // placeholders (it only needs their names and types) and are converted one by one when written.
    const lazy = new Map<string, LazyInit>();
    const placeholders = inits.map((i) => {
      if (!isLazy(i.data)) return i as PendingInitProto;
      lazy.set(i.name, i.data);
      return { ...i, data: i.type === ELEM.float ? new Float32Array(0) : new Uint8Array(0) };
    });
    const half = toHalfPrecision({ nodes: this.nodes, inits: placeholders, inputs: this.inputs, outputs: this.outputs });
    return {
      ...half,
      inits: half.inits.map((i) => {
        const src = lazy.get(i.name);
        if (!src) return i;
        if (src.type !== 'float') return { ...i, data: src };
        const asHalf: LazyInit = { type: 'float16', numel: src.numel, read: () => f32ToF16(src.read() as Float32Array), done: () => src.done() };
        return { ...i, data: asHalf };
      }),
    };
  }

  /**
   * Serialises with initializers of at least `minBytes` written to `dataPath` (ONNX external data),
   * which must sit beside the model file. Returns the model bytes to write at the model path.
   */
  toBytesWithExternalData(dataPath: string, minBytes = 1024, opts: SerializeOptions = {}): Uint8Array {
    const parts = this.parts(opts);
    const fd = openSync(dataPath, 'w');
    let offset = 0;
    const tensors: onnx.ITensorProto[] = [];
    try {
      for (const i of parts.inits) {
        // One lazy tensor at a time: read, written (or put inline), dropped.
        const data = valuesOf(i.data);
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        if (bytes.length < minBytes) {
          tensors.push(inlineTensor({ ...i, data }));
          if (isLazy(i.data)) i.data.done();
          continue;
        }
        // 4 KB alignment lets onnxruntime memory-map the weights.
        const pad = (4096 - (offset % 4096)) % 4096;
        if (pad) writeSync(fd, new Uint8Array(pad));
        offset += pad;
        try {
          writeAll(fd, bytes);
        } finally {
          if (isLazy(i.data)) i.data.done();
        }
        tensors.push({
          name: i.name,
          dataType: i.type,
          dims: i.dims,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: basename(dataPath) },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(bytes.length) },
          ],
        });
        offset += bytes.length;
      }
    } finally {
      closeSync(fd);
    }
    return onnx.ModelProto.encode(this.model(parts, tensors)).finish();
  }

  /** Total bytes of initializers, for memory estimates and the choice of external data. */
  weightBytes(): number {
    return this.inits.reduce((a, i) => a + byteLengthOf(i.data), 0);
  }

  private model(parts: Omit<GraphParts, 'inits'>, initializer: onnx.ITensorProto[]): onnx.IModelProto {
    return {
      irVersion: 8,
      producerName: 'circuit-inspector',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: {
        name: this.graphName,
        node: parts.nodes,
        initializer,
        input: parts.inputs,
        output: parts.outputs,
      },
    };
  }
}

function elemTypeOf(data: InitData): ElemType {
  if (data instanceof Float32Array) return 'float';
  if (data instanceof Uint16Array) return 'float16';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'bool';
}

export interface SerializeOptions {
  /** 'f16': weights and activations in half precision, reductions in f32; inputs/outputs stay f32. */
  precision?: 'f32' | 'f16';
}

type PendingInitProto = GraphParts['inits'][number];
type ProtoInit = Omit<PendingInitProto, 'data'> & { data: InitData | LazyInit };

function valuesOf(d: InitData | LazyInit): InitData {
  return isLazy(d) ? d.read() : d;
}

/** writeSync may write less than asked (large buffers); loop until every byte is out. */
function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}

function inlineTensor(i: PendingInitProto): onnx.ITensorProto {
  return {
    name: i.name,
    dataType: i.type,
    dims: i.dims,
    rawData: new Uint8Array(i.data.buffer, i.data.byteOffset, i.data.byteLength),
  };
}

function valueInfo(name: string, type: ElemType, dims?: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[type],
        shape: dims ? { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } : undefined,
      },
    },
  };
}

function attrProto(name: string, a: Attr): onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int':
      return { name, type: T.INT, i: a.v };
    case 'float':
      return { name, type: T.FLOAT, f: a.v };
    case 'ints':
      return { name, type: T.INTS, ints: a.v };
    case 'floats':
      return { name, type: T.FLOATS, floats: a.v };
    case 'string':
      return { name, type: T.STRING, s: new TextEncoder().encode(a.v) };
  }
}
