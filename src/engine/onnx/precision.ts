/**
 * Half precision for any graph the builders make: a pass over the graph, not a second set of builders.
 *
 * Every float value becomes float16, weights are rounded to f16, graph inputs and outputs stay float32
 * (a Cast at each boundary), so callers feed and read the same tensors in both precisions. Ops whose
 * accuracy depends on the width of the accumulator — reductions (norm statistics, the attribution dot
 * products), softmax, exp, and the reciprocal square roots of the norm scales — run in float32 between
 * Casts: f16 storage with f32 accumulation, as the GPU issue asks.
 */
import { onnx } from 'onnx-proto';
import { f32ToF16 } from '../bundle/safetensors';

const T = onnx.TensorProto.DataType;

export const DEFAULT_KEEP_F32 = new Set(['ReduceSum', 'ReduceMean', 'ReduceMax', 'Softmax', 'LogSoftmax', 'Exp', 'Sqrt', 'Reciprocal', 'Pow', 'Div', 'Tanh', 'Erf', 'CumSum', 'TopK']);

export interface GraphParts {
  nodes: onnx.INodeProto[];
  inits: { name: string; type: number; dims: number[]; data: Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array }[];
  inputs: onnx.IValueInfoProto[];
  outputs: onnx.IValueInfoProto[];
}

const ELEMENTWISE = new Set(['Mul', 'Add', 'Sub', 'Neg', 'Abs', 'Pow', 'Sqrt', 'Div']);
const INT_OUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
const BOOL_OUT = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
/** Ops whose output type is that of a given input index. */
const TYPE_FROM_INPUT: Record<string, number> = { Where: 1 };

function elemType(v: onnx.IValueInfoProto): number {
  return v.type?.tensorType?.elemType ?? T.FLOAT;
}

function inferTypes(parts: GraphParts): Map<string, number> {
  const types = new Map<string, number>();
  for (const i of parts.inputs) types.set(i.name!, elemType(i));
  for (const i of parts.inits) types.set(i.name, i.type);
  for (const n of parts.nodes) {
    const op = n.opType!;
    let t: number;
    if (INT_OUT.has(op)) t = T.INT64;
    else if (BOOL_OUT.has(op)) t = T.BOOL;
    else if (op === 'Cast') t = Number(n.attribute?.find((a) => a.name === 'to')?.i ?? T.FLOAT);
    else if (op === 'ConstantOfShape') t = n.attribute?.find((a) => a.name === 'value')?.t?.dataType ?? T.FLOAT;
    else if (op === 'Constant') t = n.attribute?.find((a) => a.name === 'value')?.t?.dataType ?? T.FLOAT;
    else t = types.get(n.input![TYPE_FROM_INPUT[op] ?? 0]) ?? T.FLOAT;
    // TopK's second output is indices.
    n.output!.forEach((o, k) => types.set(o, op === 'TopK' && k === 1 ? T.INT64 : op === 'Split' ? t : k === 0 ? t : t));
  }
  return types;
}

export function toHalfPrecision(parts: GraphParts, keepF32: Set<string> = DEFAULT_KEEP_F32): GraphParts {
  const types = inferTypes(parts);
  // The op that computes each graph output also runs in f32: outputs are what callers sum and compare
  // (edge weights are dot products of gradients with decoder rows), so their accumulation is never f16.
  const producers = new Map<string, onnx.INodeProto>();
  for (const n of parts.nodes) for (const o of n.output!) producers.set(o, n);
  const finalOps = new Set<onnx.INodeProto>();
  for (const o of parts.outputs) {
    let p = producers.get(o.name!);
    while (p && p.opType === 'Identity') p = producers.get(p.input![0]);
    if (p) finalOps.add(p);
  }
  // Elementwise ops whose every consumer runs in f32 run in f32 too: x·x feeding the mean of an RMS norm
  // overflows f16 (max 65504) as soon as |x| > 256, which trained models' residual streams reach.
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of parts.nodes) for (const i of n.input!) (consumers.get(i) ?? consumers.set(i, []).get(i)!).push(n);
  const inF32 = (n: onnx.INodeProto) => keepF32.has(n.opType!) || finalOps.has(n);
  for (let i = parts.nodes.length - 1; i >= 0; i--) {
    const n = parts.nodes[i];
    if (!ELEMENTWISE.has(n.opType!) || inF32(n)) continue;
    const users = n.output!.flatMap((o) => consumers.get(o) ?? []);
    if (users.length && users.every(inF32)) finalOps.add(n);
  }
  const isFloat = (name: string) => types.get(name) === T.FLOAT;
  const nodes: onnx.INodeProto[] = [];
  let k = 0;
  const fresh = (base: string) => `${base}__h${k++}`;

  // Graph inputs: keep f32 externally, cast once on entry.
  const rename = new Map<string, string>();
  for (const i of parts.inputs) {
    if (elemType(i) !== T.FLOAT) continue;
    const h = fresh(i.name!);
    nodes.push({ opType: 'Cast', input: [i.name!], output: [h], name: fresh('cast_in'), attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: T.FLOAT16 }] });
    rename.set(i.name!, h);
  }
  const inits = parts.inits.map((i) => (i.type === T.FLOAT ? { ...i, type: T.FLOAT16, data: f32ToF16(i.data as Float32Array) } : i));
  const castAttr = (to: number): onnx.IAttributeProto => ({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: to });

  const f32Version = new Map<string, string>();
  for (const n0 of parts.nodes) {
    const n: onnx.INodeProto = { ...n0, input: n0.input!.map((x) => rename.get(x) ?? x), output: [...n0.output!] };
    if (n.opType === 'Cast' && Number(n.attribute?.find((a) => a.name === 'to')?.i) === T.FLOAT) {
      n.attribute = [castAttr(T.FLOAT16)];
    }
    if ((n.opType === 'ConstantOfShape' || n.opType === 'Constant') && n.attribute) {
      n.attribute = n.attribute.map((a) => {
        if (a.name !== 'value' || !a.t || a.t.dataType !== T.FLOAT) return a;
        const f = a.t.rawData ? new Float32Array(copy(a.t.rawData)) : Float32Array.from(a.t.floatData ?? []);
        const h = f32ToF16(f);
        return { ...a, t: { ...a.t, dataType: T.FLOAT16, floatData: [], rawData: new Uint8Array(h.buffer) } };
      });
    }
    if (keepF32.has(n.opType!) || finalOps.has(n0)) {
      // Run in f32. Inputs computed in f32 upstream are used as they are (never through f16, where
      // e.g. a squared residual would overflow); others are cast up once and the cast reused.
      const ins = n.input!.map((x, idx) => {
        const orig = n0.input![idx];
        if (!x || !isFloat(orig)) return x;
        const have = f32Version.get(orig);
        if (have) return have;
        const up = fresh(`${orig}_f32`);
        nodes.push({ opType: 'Cast', input: [x], output: [up], name: fresh('cast_up'), attribute: [castAttr(T.FLOAT)] });
        f32Version.set(orig, up);
        return up;
      });
      const outs = n.output!.map((o) => (isFloat(o) ? fresh(`${o}_f32`) : o));
      nodes.push({ ...n, input: ins, output: outs });
      n.output!.forEach((o, idx) => {
        if (outs[idx] === o) return;
        f32Version.set(o, outs[idx]);
        // The f16 copy only where an f16 op reads it.
        const readers = consumers.get(o) ?? [];
        if (readers.some((r) => !inF32(r))) nodes.push({ opType: 'Cast', input: [outs[idx]], output: [o], name: fresh('cast_down'), attribute: [castAttr(T.FLOAT16)] });
      });
      continue;
    }
    nodes.push(n);
  }

  // Graph outputs: f32 externally — straight from the f32 value when one was computed, else cast up.
  const outputs = parts.outputs.map((o) => {
    if (elemType(o) !== T.FLOAT) return o;
    const inner = o.name!;
    const h = fresh(inner);
    // Re-point the producer of the output to an internal name, then expose it as f32 under the public name.
    for (const n of nodes) n.output = n.output!.map((x) => (x === inner ? h : x));
    for (const n of nodes) n.input = n.input!.map((x) => (x === inner ? h : x));
    const f32 = f32Version.get(inner);
    if (f32) nodes.push({ opType: 'Identity', input: [f32], output: [inner], name: fresh('out_f32') });
    else nodes.push({ opType: 'Cast', input: [h], output: [inner], name: fresh('cast_out'), attribute: [castAttr(T.FLOAT)] });
    return o;
  });
  return { nodes, inits, inputs: parts.inputs, outputs };
}

function copy(u: Uint8Array): ArrayBuffer {
  const ab = new ArrayBuffer(u.byteLength);
  new Uint8Array(ab).set(u);
  return ab;
}
