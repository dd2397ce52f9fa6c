/**
 * Turns graph inputs into initializers. onnxruntime-node has no IO binding (its `preferredOutputLocation`
 * is for the web build only), so a tensor fed on every run is copied host → device on every run. For the
 * attribution sweeps, the prompt's frozen patterns, norm scales, error vectors and decoder rows are the
 * same for every batch: binding them into a per-prompt session uploads them once, and each batch then
 * carries only its seeds.
 */
import { readFileSync } from 'node:fs';
import { onnx } from 'onnx-proto';

export interface ConstantTensor {
  type: string;
  dims: readonly number[];
  data: unknown;
}

const TYPES: Record<string, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
};

/**
 * The model with `constants` as initializers instead of inputs, or undefined when it cannot be done
 * in memory (weights in an external data file, or a tensor type it does not handle).
 */
export function bindInputs(model: Uint8Array | string, constants: Record<string, ConstantTensor>): Uint8Array | undefined {
  const bytes = typeof model === 'string' ? readFileSync(model) : model;
  const m = onnx.ModelProto.decode(bytes);
  const g = m.graph!;
  if (g.initializer!.some((t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL)) return undefined;
  const names = new Set(g.input!.map((i) => i.name!));
  for (const [name, t] of Object.entries(constants)) {
    const dataType = TYPES[t.type];
    const data = t.data as ArrayBufferView;
    if (!names.has(name) || dataType === undefined || !ArrayBuffer.isView(data)) return undefined;
    g.initializer!.push({ name, dataType, dims: [...t.dims], rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }
  g.input = g.input!.filter((i) => !(i.name! in constants));
  return onnx.ModelProto.encode(m).finish();
}
