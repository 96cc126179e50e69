// ONNX export: the encoder f (optionally followed by the projection head g, giving z) written from
// the module tree as an ONNX graph for inference: Conv, BatchNormalization (eval mode: the running
// statistics; or folded into the convolution), Relu, Add, MaxPool, GlobalAveragePool, Flatten,
// Gemm, with a dynamic batch dimension. The protobuf encoding is onnx-proto's (protobufjs).
// A module without an ONNX form here is an error naming it.
import onnxProto from 'onnx-proto';
import { AdaptiveAvgPool2d, BatchNorm, BatchNorm2d, Conv2d, Dropout, Identity, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { BasicBlock, Bottleneck, ResNet } from '../models/resnet.js';
import { ProjectionHead } from '../models/projection-head.js';
import { onesLike, zerosLike } from '../tensor/create.js';
import { noGrad, tidy, type Tensor } from '../tensor/tensor.js';
import { frameCap } from '../data/folder.js';

const { onnx } = onnxProto;
const { AttributeType } = onnx.AttributeProto;

/** Options of {@link exportOnnx}. */
export interface OnnxExportOptions {
  /** The projection head after the encoder (the output is then z). */
  head?: ProjectionHead | null;
  /** Input height and width (also recorded in the metadata). */
  imageSize: number;
  /** ONNX opset (15 … 21; default 17). */
  opset?: number;
  /** Fold each BatchNormalization into the convolution before it. */
  foldBatchNorm?: boolean;
  /** Extra metadata_props (the run, the encoder's fingerprint, …). */
  metadata?: Record<string, string>;
}

/** An integer, a list of integers, or a float ({ float: x }, so that 1.0 is not written as an integer). */
type Attribute = number | number[] | { float: number };

/** Nodes and weights of the graph being written; values are named by the module path that made them. */
class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  #names = new Set<string>();

  constructor(readonly foldBatchNorm: boolean) {}

  #unique(name: string): string {
    let out = name;
    for (let i = 1; this.#names.has(out); i++) out = `${name}_${i}`;
    this.#names.add(out);
    return out;
  }

  /** A float32 weight (copied out of the tensor). */
  weight(name: string, t: Tensor): string {
    const unique = this.#unique(name);
    const values = noGrad(() => tidy(() => t.detach().to('float32').contiguous().toArray())) as Float32Array;
    this.initializers.push({ name: unique, dims: t.shape, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return unique;
  }

  node(op: string, name: string, inputs: string[], attributes: Record<string, Attribute> = {}): string {
    const output = this.#unique(name);
    const attribute = Object.entries(attributes).map(([key, v]) =>
      Array.isArray(v) ? { name: key, type: AttributeType.INTS, ints: v } : typeof v === 'number' ? { name: key, type: AttributeType.INT, i: v } : { name: key, type: AttributeType.FLOAT, f: v.float },
    );
    this.nodes.push({ opType: op, name: output, input: inputs, output: [output], attribute });
    return output;
  }
}

/** BatchNorm in eval mode as y = x·scale + shift per channel (γ = 1, β = 0 where not learnt). */
function batchNormAffine(path: string, bn: BatchNorm): { scale: Tensor; shift: Tensor } {
  runningStatistics(path, bn);
  return noGrad(() =>
    tidy(() => {
      const scale = bn.runningVar!.add(bn.eps).rsqrt();
      const gamma = bn.weight === null ? scale : scale.mul(bn.weight);
      const shift = bn.runningMean!.neg().mul(gamma);
      return { scale: gamma, shift: bn.bias === null ? shift : shift.add(bn.bias) };
    }),
  );
}

/** A BatchNorm's running statistics (one without them normalises with the batch even in eval mode: no inference form). */
function runningStatistics(path: string, bn: BatchNorm): { mean: Tensor; variance: Tensor } {
  if (bn.runningMean === null || bn.runningVar === null) throw new Error(`ONNX export: ${path} (BatchNorm) has no running statistics, so it has no inference form`);
  return { mean: bn.runningMean, variance: bn.runningVar };
}

/** A convolution, and the BatchNorm after it when given ([path, module]): folded into it, or a node of its own. */
function conv(g: GraphBuilder, path: string, c: Conv2d, x: string, norm: [string, BatchNorm2d] | null = null): string {
  const attributes = {
    kernel_shape: c.kernelSize,
    strides: c.stride,
    pads: [...c.padding, ...c.padding],
    dilations: c.dilation,
    group: c.groups,
  };
  if (norm !== null && g.foldBatchNorm) {
    const { scale, shift } = batchNormAffine(norm[0], norm[1]);
    const [w, b] = noGrad(() => tidy(() => [c.weight.mul(scale.reshape([-1, 1, 1, 1])), c.bias === null ? shift.clone() : c.bias.mul(scale).add(shift)]));
    scale.dispose();
    shift.dispose();
    const out = g.node('Conv', path, [x, g.weight(`${path}.weight`, w!), g.weight(`${path}.bias`, b!)], attributes);
    w!.dispose();
    b!.dispose();
    return out;
  }
  const inputs = [x, g.weight(`${path}.weight`, c.weight)];
  if (c.bias !== null) inputs.push(g.weight(`${path}.bias`, c.bias));
  const out = g.node('Conv', path, inputs, attributes);
  return norm === null ? out : batchNorm(g, norm[0], norm[1], out);
}

function batchNorm(g: GraphBuilder, path: string, bn: BatchNorm, x: string): string {
  const { mean, variance } = runningStatistics(path, bn);
  const ones = onesLike(mean);
  const zeros = zerosLike(mean);
  const inputs = [x, g.weight(`${path}.weight`, bn.weight ?? ones), g.weight(`${path}.bias`, bn.bias ?? zeros), g.weight(`${path}.running_mean`, mean), g.weight(`${path}.running_var`, variance)];
  ones.dispose();
  zeros.dispose();
  return g.node('BatchNormalization', path, inputs, { epsilon: { float: bn.eps } });
}

/** The ONNX nodes of module `m` (at `path` in the tree) applied to value `x`; returns the output's name. */
function emit(g: GraphBuilder, path: string, m: Module, x: string): string {
  const at = (name: string) => (path === '' ? name : `${path}.${name}`);
  if (m instanceof ResNet) {
    let out = g.node('Relu', at('relu'), [conv(g, at('conv1'), m.conv1, x, [at('bn1'), m.bn1])]);
    out = emit(g, at('maxpool'), m.maxpool, out);
    m.layers.forEach((layer, i) => (out = emit(g, at(`layer${i + 1}`), layer, out)));
    if (!(m.avgpool.outputSize === 1 || (Array.isArray(m.avgpool.outputSize) && m.avgpool.outputSize.every((s) => s === 1)))) throw new Error(`ONNX export: ${at('avgpool')} pools to ${String(m.avgpool.outputSize)}, not 1`);
    out = g.node('Flatten', at('flatten'), [g.node('GlobalAveragePool', at('avgpool'), [out])], { axis: 1 });
    return m.fc === null ? out : emit(g, at('fc'), m.fc, out);
  }
  if (m instanceof BasicBlock || m instanceof Bottleneck) {
    let out = g.node('Relu', at('relu'), [conv(g, at('conv1'), m.conv1, x, [at('bn1'), m.bn1])]);
    if (m instanceof BasicBlock) {
      out = conv(g, at('conv2'), m.conv2, out, [at('bn2'), m.bn2]);
    } else {
      out = g.node('Relu', at('relu'), [conv(g, at('conv2'), m.conv2, out, [at('bn2'), m.bn2])]);
      out = conv(g, at('conv3'), m.conv3, out, [at('bn3'), m.bn3]);
    }
    const identity = m.downsample === null ? x : emit(g, at('downsample'), m.downsample, x);
    return g.node('Relu', at('relu'), [g.node('Add', at('add'), [out, identity])]);
  }
  if (m instanceof ProjectionHead) {
    let out = x;
    m.blocks.forEach((block, i) => (out = emit(g, at(String(i)), block, out)));
    return out;
  }
  if (m instanceof Sequential) {
    let out = x;
    for (let i = 0; i < m.length; i++) {
      const layer = m.at(i);
      const next = i + 1 < m.length ? m.at(i + 1) : null;
      // A convolution followed by BatchNorm (the downsample path): one pair, foldable.
      if (layer instanceof Conv2d && next instanceof BatchNorm2d) {
        out = conv(g, at(String(i)), layer, out, [at(String(i + 1)), next]);
        i++;
      } else {
        out = emit(g, at(String(i)), layer, out);
      }
    }
    return out;
  }
  if (m instanceof Conv2d) return conv(g, path, m, x);
  if (m instanceof BatchNorm) return batchNorm(g, path, m, x);
  if (m instanceof ReLU) return g.node('Relu', path, [x]);
  if (m instanceof Identity || m instanceof Dropout) return x; // (eval mode)
  if (m instanceof MaxPool2d) {
    const pair = (v: number | readonly [number, number] | undefined, fallback: [number, number]): number[] => (v === undefined ? fallback : typeof v === 'number' ? [v, v] : [...v]);
    const kernel = pair(m.kernelSize, [1, 1]);
    const pads = pair(m.options.padding, [0, 0]);
    return g.node('MaxPool', path, [x], { kernel_shape: kernel, strides: pair(m.options.stride, kernel as [number, number]), pads: [...pads, ...pads], dilations: pair(m.options.dilation, [1, 1]), ceil_mode: m.options.ceilMode ? 1 : 0 });
  }
  if (m instanceof Linear) {
    const inputs = [x, g.weight(`${path}.weight`, m.weight)];
    if (m.bias !== null) inputs.push(g.weight(`${path}.bias`, m.bias));
    return g.node('Gemm', path, inputs, { transB: 1 });
  }
  if (m instanceof AdaptiveAvgPool2d) throw new Error(`ONNX export: ${path || 'the model'} (AdaptiveAvgPool2d) is exported only as a ResNet's global pool`);
  throw new Error(`ONNX export: no ONNX form for ${path || 'the model'} (${m.constructor.name})`);
}

/** The encoder (and head) as a serialised ONNX ModelProto: input "images" [batch, C, size, size] float, output "h" (or "z"). */
export function exportOnnx(encoder: ResNet, options: OnnxExportOptions): Uint8Array {
  const opset = options.opset ?? 17;
  if (!(Number.isInteger(opset) && opset >= 15 && opset <= 21)) throw new RangeError(`ONNX export: opset must be 15 … 21 (got ${opset})`);
  const size = options.imageSize;
  if (!(Number.isInteger(size) && size > 0)) throw new RangeError(`ONNX export: the image size must be a positive integer (got ${size})`);
  const head = options.head ?? null;
  const modes = [encoder.training, head?.training ?? false];
  encoder.eval();
  head?.eval();
  try {
    const g = new GraphBuilder(options.foldBatchNorm ?? false);
    let out = emit(g, '', encoder, 'images');
    if (head !== null) out = emit(g, 'head', head, out);
    const outputName = head === null ? 'h' : 'z';
    g.nodes.push({ opType: 'Identity', name: outputName, input: [out], output: [outputName] });
    const channels = encoder.options.inChannels;
    const outDim = head === null ? encoder.featureDim : head.outputDim;
    const tensorType = (dims: (number | string)[]) => ({
      tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } },
    });
    const metadata = {
      input: `images [batch, ${channels}, ${size}, ${size}] float32 in [0, 1]: 8-bit pixel values / 255, no mean/std normalisation`,
      preprocessing: `decode (EXIF orientation applied), ${channels === 1 ? 'convert to grayscale' : 'convert to sRGB, drop alpha'}; images whose shorter side exceeds ${frameCap(size)} px are first shrunk to it (libvips, Lanczos); take the centre square and resample it to ${size}x${size} (bilinear when enlarging, the triangle filter stretched by the scale when shrinking: PIL's and ATen's antialiased bilinear), round to 8 bits, then /255`,
      output: head === null ? `h [batch, ${outDim}]: the encoder's features` : `z [batch, ${outDim}]: the projection head's output`,
      imageSize: String(size),
      inChannels: String(channels),
      featureDim: String(outDim),
      depth: String(encoder.options.depth),
      cifarStem: String(encoder.options.cifarStem),
      width: String(encoder.options.widthMultiplier),
      ...options.metadata,
    };
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opset }],
      producerName: 'simclr',
      modelVersion: 1,
      docString: 'SimCLR encoder exported by simclr (TypeScript on libtorch)',
      graph: {
        name: head === null ? 'simclr_encoder' : 'simclr_encoder_head',
        node: g.nodes,
        initializer: g.initializers,
        input: [{ name: 'images', type: tensorType(['batch', channels, size, size]) }],
        output: [{ name: outputName, type: tensorType(['batch', outDim]) }],
      },
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  } finally {
    encoder.train(modes[0]);
    head?.train(modes[1]);
  }
}
