// Static int8 quantisation of an exported encoder graph, in ONNX's QDQ form (what onnxruntime's
// quantize_static writes): every activation a convolution or an addition reads is rounded to 8 bits
// (QuantizeLinear → DequantizeLinear, uint8, its scale from the activation's range on calibration
// images), the convolutions' weights are int8 per output channel and their biases int32. ONNX
// Runtime fuses each DequantizeLinear → Conv → QuantizeLinear into one integer QLinearConv (a Relu
// before a QuantizeLinear whose zero point is 0 disappears into it), and Add likewise.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const { DataType } = onnx.TensorProto;
type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;

/** The activations quantised: the input, every Relu's output, every Conv's output not followed by a Relu (the residual additions' inputs), MaxPool's output. */
export function quantizedActivations(model: Uint8Array): string[] {
  return activationsOf(onnx.ModelProto.decode(model).graph!);
}

function activationsOf(graph: Graph): string[] {
  const consumers = consumersOf(graph);
  const names = [graph.input![0]!.name!];
  for (const node of graph.node!) {
    const out = node.output![0]!;
    const followedByRelu = (consumers.get(out) ?? []).some((c) => c.opType === 'Relu');
    if (node.opType === 'Relu' || node.opType === 'MaxPool' || (node.opType === 'Conv' && !followedByRelu)) names.push(out);
  }
  return names;
}

/** The graph with `names` as extra float outputs: one run of it gives every activation calibrate() needs. */
export function withActivationOutputs(model: Uint8Array, names: string[]): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const known = new Set(m.graph!.output!.map((o) => o.name));
  for (const name of names) if (!known.has(name)) m.graph!.output!.push({ name, type: { tensorType: { elemType: DataType.FLOAT } } });
  return onnx.ModelProto.encode(m).finish();
}

/** An activation's range on the calibration images. */
export type Range = readonly [min: number, max: number];

/** uint8 scale and zero point of a range (widened to hold 0, as zero padding must be exact). */
function activationQuantisation([min, max]: Range): { scale: number; zeroPoint: number } {
  const [lo, hi] = [Math.min(min, 0), Math.max(max, 0)];
  const scale = hi > lo ? (hi - lo) / 255 : 1;
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-lo / scale))) };
}

function consumersOf(graph: Graph): Map<string, Node[]> {
  const consumers = new Map<string, Node[]>();
  for (const node of graph.node!) for (const input of node.input!) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  return consumers;
}

const floats = (t: onnxProto.onnx.ITensorProto): Float32Array => {
  const raw = t.rawData!;
  return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
};
const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * The QDQ form of a float graph from exportOnnx (BatchNorms folded), given each activation of
 * quantizedActivations() its calibrated range. `weightBits` 8 uses int8's [−127, 127]; 7 keeps the
 * weights in [−63, 63] (ONNX Runtime's reduce_range: CPUs without VNNI multiply uint8 by int8 in
 * 16-bit pairs that could saturate at 8 bits).
 */
export function quantizeOnnx(model: Uint8Array, ranges: ReadonlyMap<string, Range>, { weightBits = 8 }: { weightBits?: 7 | 8 } = {}): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const graph = m.graph!;
  const initializers = new Map(graph.initializer!.map((t) => [t.name!, t]));
  const initializer = (name: string, dataType: number, value: ArrayBufferView, dims: number[] = []) => {
    graph.initializer!.push({ name, dims, dataType, rawData: bytes(value) });
    return name;
  };
  /** A weight stored as integers `q` with one scale per output channel (zero points 0), read through a DequantizeLinear: its output's name. */
  const dequantisedPerChannel = (name: string, dataType: number, q: Int8Array | Int32Array, dims: number[], scale: Float32Array) => {
    const zero = dataType === DataType.INT8 ? new Int8Array(scale.length) : new Int32Array(scale.length);
    const inputs = [initializer(`${name}.q`, dataType, q, dims), initializer(`${name}.scale`, DataType.FLOAT, scale, [scale.length]), initializer(`${name}.zero_point`, dataType, zero, [scale.length])];
    nodes.push({ opType: 'DequantizeLinear', name: `${name}.dequantize`, input: inputs, output: [`${name}.dq`], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] });
    return `${name}.dq`;
  };
  const activation = new Map<string, { scale: number; zeroPoint: number; dequantised: string }>();
  const nodes: Node[] = [];
  const quantise = (name: string) => {
    const range = ranges.get(name);
    if (range === undefined) throw new Error(`int8 quantisation: no calibrated range for ${name}`);
    const q = activationQuantisation(range);
    const [scale, zeroPoint] = [initializer(`${name}.scale`, DataType.FLOAT, Float32Array.of(q.scale)), initializer(`${name}.zero_point`, DataType.UINT8, Uint8Array.of(q.zeroPoint))];
    nodes.push({ opType: 'QuantizeLinear', name: `${name}.quantize`, input: [name, scale, zeroPoint], output: [`${name}.q`] });
    nodes.push({ opType: 'DequantizeLinear', name: `${name}.dequantize`, input: [`${name}.q`, scale, zeroPoint], output: [`${name}.dq`] });
    activation.set(name, { ...q, dequantised: `${name}.dq` });
  };
  const quantised = new Set(activationsOf(graph));
  const inputName = graph.input![0]!.name!;
  quantise(inputName);
  const limit = weightBits === 8 ? 127 : 63;
  for (const node of graph.node!) {
    // every input already quantised is read through its DequantizeLinear
    const inputs = node.input!.map((i) => activation.get(i)?.dequantised ?? i);
    if (node.opType === 'Conv') {
      const x = activation.get(node.input![0]!);
      if (x === undefined) throw new Error(`int8 quantisation: ${node.name} reads an activation that is not quantised`);
      const w = initializers.get(node.input![1]!)!;
      const outChannels = Number(w.dims![0]); // (int64: a Long once decoded)
      const values = floats(w);
      const perChannel = values.length / outChannels;
      const wScale = new Float32Array(outChannels);
      const wq = new Int8Array(values.length);
      for (let c = 0; c < outChannels; c++) {
        let largest = 0;
        for (let i = c * perChannel; i < (c + 1) * perChannel; i++) largest = Math.max(largest, Math.abs(values[i]!));
        wScale[c] = largest > 0 ? largest / limit : 1;
        for (let i = c * perChannel; i < (c + 1) * perChannel; i++) wq[i] = Math.round(values[i]! / wScale[c]!);
      }
      inputs[1] = dequantisedPerChannel(w.name!, DataType.INT8, wq, w.dims!.map(Number), wScale);
      if (node.input!.length > 2) {
        const b = initializers.get(node.input![2]!)!;
        const bScale = wScale.map((s) => s * x.scale);
        const bq = Int32Array.from(floats(b), (v, c) => Math.round(v / bScale[c]!));
        inputs[2] = dequantisedPerChannel(b.name!, DataType.INT32, bq, [outChannels], bScale);
      }
    }
    nodes.push({ ...node, input: inputs });
    const out = node.output![0]!;
    if (quantised.has(out)) quantise(out);
  }
  // the float weights the integer ones replace are dropped
  const replaced = new Set(graph.node!.filter((n) => n.opType === 'Conv').flatMap((n) => n.input!.slice(1)));
  graph.initializer = graph.initializer!.filter((t) => !replaced.has(t.name!));
  graph.node = nodes;
  return onnx.ModelProto.encode(m).finish();
}
