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

interface PendingInit {
  name: string;
  type: ElemType;
  dims: number[];
  data: InitData;
}

export class GraphBuilder {
  private readonly nodes: onnx.INodeProto[] = [];
  private readonly inits: PendingInit[] = [];
  private readonly inputs: onnx.IValueInfoProto[] = [];
  private readonly outputs: onnx.IValueInfoProto[] = [];
  private readonly used = new Set<string>();
  /** Identical Float32Array objects become one initializer (tied embeddings, shared weights). */
  private readonly byArray = new Map<InitData, string>();
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
    return onnx.ModelProto.encode(this.model(parts, parts.inits.map((i) => inlineTensor(i)))).finish();
  }

  /** The graph as plain parts, converted to half precision when asked (see precision.ts). */
  private parts(opts: SerializeOptions): GraphParts & { inits: PendingInitProto[] } {
    const parts = {
      nodes: this.nodes,
      inits: this.inits.map((i) => ({ name: i.name, type: ELEM[i.type], dims: i.dims, data: i.data })),
      inputs: this.inputs,
      outputs: this.outputs,
    };
    return opts.precision === 'f16' ? toHalfPrecision(parts) : parts;
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
        const bytes = new Uint8Array(i.data.buffer, i.data.byteOffset, i.data.byteLength);
        if (bytes.length < minBytes) {
          tensors.push(inlineTensor(i));
          continue;
        }
        // 4 KB alignment lets onnxruntime memory-map the weights.
        const pad = (4096 - (offset % 4096)) % 4096;
        if (pad) writeSync(fd, new Uint8Array(pad));
        offset += pad;
        writeSync(fd, bytes);
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
    return this.inits.reduce((a, i) => a + i.data.byteLength, 0);
  }

  private model(parts: GraphParts, initializer: onnx.ITensorProto[]): onnx.IModelProto {
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
