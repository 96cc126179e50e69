// The projection head g, which maps the encoder's h to z, where the contrastive loss is applied.
//   v1 (SimCLR):   Linear(h, hidden) → ReLU → Linear(hidden, out)
//   v2 (SimCLRv2): `layers` Linear layers without bias, each followed by BatchNorm; ReLU between;
//                  the last BatchNorm learns no shift (google-research/simclr, num_proj_layers = 3).
//   v1 with 1 layer: Linear(h, out), the paper's "linear" head; with 0 layers: none, z = h (Figure 8).
// For fine-tuning, v2 can hand out the output of head layer k (their ft_proj_selector): 0 is h itself.
import { Module } from '../nn/module.js';
import { BatchNorm1d, Linear, ReLU, Sequential } from '../nn/layers.js';
import type { Tensor } from '../tensor/tensor.js';

/** Options of {@link ProjectionHead}. */
export interface ProjectionHeadOptions {
  /** 1: SimCLR's two-layer MLP (default); 2: SimCLRv2's deeper head with BatchNorm. */
  version?: 1 | 2;
  /** Dimension of the input h (the encoder's featureDim). */
  inputDim: number;
  /** Width of the hidden layers (default: inputDim, as in the paper). */
  hiddenDim?: number;
  /** Dimension of z, where the loss applies (default 128). */
  outputDim?: number;
  /** The number of Linear layers: v2 default 3; v1 default 2, 1 for a linear head, 0 for none (z = h). */
  layers?: number;
}

/** The projection head g that maps the encoder's h [N, inputDim] to z [N, outputDim], where the contrastive loss applies. */
export class ProjectionHead extends Module {
  /** 1 (SimCLR) or 2 (SimCLRv2). */
  readonly version: 1 | 2;
  /** Dimension of the input h. */
  readonly inputDim: number;
  /** Dimension of the output z. */
  readonly outputDim: number;
  /** Width of the hidden layers. */
  readonly hiddenDim: number;
  /** One Sequential per Linear layer: [Linear, (BatchNorm), (ReLU)]. */
  readonly blocks: Sequential[];

  constructor({ version = 1, inputDim, hiddenDim = inputDim, outputDim = 128, layers }: ProjectionHeadOptions) {
    super();
    this.version = version;
    this.inputDim = inputDim;
    this.hiddenDim = hiddenDim;
    this.outputDim = outputDim;
    const count = layers ?? (version === 1 ? 2 : 3);
    if (version === 1 && ![0, 1, 2].includes(count)) throw new RangeError(`a v1 projection head has 0, 1 or 2 layers (got ${count})`);
    if (!(Number.isInteger(count) && count >= (version === 1 ? 0 : 1))) throw new RangeError(`a v2 projection head needs at least 1 layer (got ${count})`);
    if (count === 0 && outputDim !== inputDim) throw new RangeError(`a projection head without layers gives z = h: its output is ${inputDim}-d (got ${outputDim})`);
    this.blocks = [];
    for (let j = 0; j < count; j++) {
      const last = j === count - 1;
      const inDim = j === 0 ? inputDim : hiddenDim;
      const outDim = last ? outputDim : hiddenDim;
      const parts: Module[] =
        version === 1
          ? [new Linear(inDim, outDim)]
          : [new Linear(inDim, outDim, { bias: false }), new BatchNorm1d(outDim, { center: !last })];
      if (!last) parts.push(new ReLU());
      this.blocks.push(this.registerModule(String(j), new Sequential(...parts)));
    }
  }

  /** z = g(h). */
  forward(h: Tensor): Tensor {
    return this.features(h, this.blocks.length);
  }

  /** The output of head layer k (0: h itself, returned as is; blocks.length: z), for fine-tuning from inside the head. */
  features(h: Tensor, k: number): Tensor {
    if (!Number.isInteger(k) || k < 0 || k > this.blocks.length) {
      throw new RangeError(`head layer ${k} does not exist (0 … ${this.blocks.length})`);
    }
    let out = h;
    for (let j = 0; j < k; j++) out = this.blocks[j]!.forward(out);
    return out;
  }
}
