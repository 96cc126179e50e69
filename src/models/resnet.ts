// ResNet encoders f (He et al. 2016) with torchvision's structure and parameter names, so
// checkpoints load into torchvision.models.resnetNN. Options from SimCLR: the CIFAR stem
// (3×3 stride-1 conv, no max-pool) for small images, a width multiplier applied to every
// layer (ResNet-50 2×/4×), any number of input channels, and no classifier: the output is h.
import { noGrad, Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { AdaptiveAvgPool2d, BatchNorm2d, Conv2d, Identity, Linear, MaxPool2d, ReLU, Sequential } from '../nn/layers.js';
import { kaimingNormalFanOut } from '../nn/init.js';

/** The standard ResNet depths (number of weighted layers). */
export type ResNetDepth = 18 | 34 | 50 | 101 | 152;

/** Options of {@link ResNet}. */
export interface ResNetOptions {
  /** The number of layers (default 50). */
  depth?: ResNetDepth;
  /** 3×3 stride-1 first conv and no max-pool, for 32×32-like images. */
  cifarStem?: boolean;
  /** Multiplies every layer's channels (0.25 gives 16/32/64/128 for ResNet-18). */
  widthMultiplier?: number;
  /** Channels of the input images (default 3). */
  inChannels?: number;
  /** Attach a classifier `fc` with this many classes; null (default) outputs the features h. */
  numClasses?: number | null;
  /** Start each residual block's last BN γ at 0, so the block begins as the identity. */
  zeroInitResidual?: boolean;
}

const layouts: Record<ResNetDepth, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

function conv3x3(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: 1, bias: false });
}

function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

abstract class Block extends Module {
  /** The BatchNorm before the residual addition (zero-initialised by zeroInitResidual). */
  abstract readonly lastBn: BatchNorm2d;
  /** Every convolution with the BatchNorm right after it, shortcut included. */
  abstract convBatchNormPairs(): [Conv2d, BatchNorm2d][];

  /** The shortcut's pair, when it has a projection. */
  protected downsamplePairs(downsample: Sequential | null): [Conv2d, BatchNorm2d][] {
    return downsample ? [[downsample.child('0') as Conv2d, downsample.child('1') as BatchNorm2d]] : [];
  }
}

/** ResNet-18/34's residual block: two 3×3 convolutions (the first carrying the stride) plus the shortcut. */
export class BasicBlock extends Block {
  /** Output channels per `planes` (1: the block outputs `planes` channels). */
  static readonly expansion = 1;
  /** First 3×3 convolution (carries the stride). */
  readonly conv1: Conv2d;
  /** BatchNorm after conv1. */
  readonly bn1: BatchNorm2d;
  /** torchvision's module, and the Relu nodes' name in ONNX; the forward runs it fused with the BatchNorm before it (BatchNorm.forwardRelu). */
  readonly relu: ReLU;
  /** Second 3×3 convolution. */
  readonly conv2: Conv2d;
  /** BatchNorm after conv2, before the residual addition. */
  readonly bn2: BatchNorm2d;
  /** The shortcut's 1×1 projection and BatchNorm when the shape changes; null for the identity. */
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.registerModule('conv1', conv3x3(inPlanes, planes, stride));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }
  /** The BatchNorm before the residual addition: bn2. */
  get lastBn(): BatchNorm2d {
    return this.bn2;
  }
  /** Every convolution with the BatchNorm right after it, shortcut included. */
  convBatchNormPairs(): [Conv2d, BatchNorm2d][] {
    return [[this.conv1, this.bn1], [this.conv2, this.bn2], ...this.downsamplePairs(this.downsample)];
  }
  forward(x: Tensor): Tensor {
    const out = this.conv2.forward(this.bn1.forwardRelu(this.conv1.forward(x)));
    return this.bn2.forwardRelu(out, this.downsample ? this.downsample.forward(x) : x);
  }
}

/** 1×1 → 3×3 (carrying the stride, as torchvision's "ResNet v1.5") → 1×1 with 4× expansion. */
export class Bottleneck extends Block {
  /** Output channels per `planes` (4: the block outputs 4·planes channels). */
  static readonly expansion = 4;
  /** 1×1 convolution reducing to `planes` channels. */
  readonly conv1: Conv2d;
  /** BatchNorm after conv1. */
  readonly bn1: BatchNorm2d;
  /** 3×3 convolution (carries the stride). */
  readonly conv2: Conv2d;
  /** BatchNorm after conv2. */
  readonly bn2: BatchNorm2d;
  /** 1×1 convolution expanding to 4·planes channels. */
  readonly conv3: Conv2d;
  /** BatchNorm after conv3, before the residual addition. */
  readonly bn3: BatchNorm2d;
  /** torchvision's module, and the Relu nodes' name in ONNX; the forward runs it fused with the BatchNorm before it (BatchNorm.forwardRelu). */
  readonly relu: ReLU;
  /** The shortcut's 1×1 projection and BatchNorm when the shape changes; null for the identity. */
  readonly downsample: Sequential | null;

  constructor(inPlanes: number, planes: number, stride: number, downsample: Sequential | null) {
    super();
    this.conv1 = this.registerModule('conv1', conv1x1(inPlanes, planes));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(planes));
    this.conv2 = this.registerModule('conv2', conv3x3(planes, planes, stride));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(planes));
    this.conv3 = this.registerModule('conv3', conv1x1(planes, planes * Bottleneck.expansion));
    this.bn3 = this.registerModule('bn3', new BatchNorm2d(planes * Bottleneck.expansion));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.downsample = downsample && this.registerModule('downsample', downsample);
  }
  /** The BatchNorm before the residual addition: bn3. */
  get lastBn(): BatchNorm2d {
    return this.bn3;
  }
  /** Every convolution with the BatchNorm right after it, shortcut included. */
  convBatchNormPairs(): [Conv2d, BatchNorm2d][] {
    return [[this.conv1, this.bn1], [this.conv2, this.bn2], [this.conv3, this.bn3], ...this.downsamplePairs(this.downsample)];
  }
  forward(x: Tensor): Tensor {
    let out = this.bn1.forwardRelu(this.conv1.forward(x));
    out = this.bn2.forwardRelu(this.conv2.forward(out));
    out = this.conv3.forward(out);
    return this.bn3.forwardRelu(out, this.downsample ? this.downsample.forward(x) : x);
  }
}

/** Channels of a layer with `channels` at width 1, at a width multiplier. */
const scaledChannels = (channels: number, width: number) => Math.max(1, Math.round(channels * width));

/** Output channels of the stem convolution (conv1) at a width multiplier. */
export function resnetStemChannels(width: number): number {
  return scaledChannels(64, width);
}

/** A ResNet encoder with torchvision's structure and parameter names; outputs the pooled features h, [N, featureDim]. */
export class ResNet extends Module {
  /** The stem convolution: 7×7 stride 2, or 3×3 stride 1 with the CIFAR stem. */
  readonly conv1: Conv2d;
  /** BatchNorm after the stem convolution. */
  readonly bn1: BatchNorm2d;
  /** torchvision's module, and the Relu nodes' name in ONNX; the forward runs it fused with the BatchNorm before it (BatchNorm.forwardRelu). */
  readonly relu: ReLU;
  /** 3×3 stride-2 max-pool after the stem (Identity with the CIFAR stem). */
  readonly maxpool: Module;
  /** The four stages layer1…layer4 of residual blocks. */
  readonly layers: Sequential[];
  /** Global average pooling to 1×1. */
  readonly avgpool: AdaptiveAvgPool2d;
  /** The classifier, when numClasses was given; otherwise null. */
  readonly fc: Linear | null;
  /** Dimension of h, the pooled features (2048 for ResNet-50). */
  readonly featureDim: number;
  /** The options with their defaults filled in. */
  readonly options: Required<ResNetOptions>;

  constructor(options: ResNetOptions = {}) {
    super();
    const o: Required<ResNetOptions> = {
      depth: 50,
      cifarStem: false,
      widthMultiplier: 1,
      inChannels: 3,
      numClasses: null,
      zeroInitResidual: false,
      ...options,
    };
    this.options = o;
    const layout = layouts[o.depth];
    if (layout === undefined) throw new RangeError(`ResNet depth must be 18, 34, 50, 101 or 152 (got ${o.depth})`);
    if (!(o.widthMultiplier > 0)) throw new RangeError(`widthMultiplier must be positive (got ${o.widthMultiplier})`);
    const width = (c: number) => scaledChannels(c, o.widthMultiplier);
    const Block = layout.block === 'basic' ? BasicBlock : Bottleneck;
    let inPlanes = width(64);

    this.conv1 = this.registerModule(
      'conv1',
      o.cifarStem
        ? new Conv2d(o.inChannels, inPlanes, 3, { stride: 1, padding: 1, bias: false })
        : new Conv2d(o.inChannels, inPlanes, 7, { stride: 2, padding: 3, bias: false }),
    );
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(inPlanes));
    this.relu = this.registerModule('relu', new ReLU(true));
    this.maxpool = this.registerModule('maxpool', o.cifarStem ? new Identity() : new MaxPool2d(3, { stride: 2, padding: 1 }));

    this.layers = [64, 128, 256, 512].map((base, stage) => {
      const planes = width(base);
      const stride = stage === 0 ? 1 : 2;
      const blocks: Module[] = [];
      for (let i = 0; i < layout.layers[stage]!; i++) {
        const s = i === 0 ? stride : 1;
        const outPlanes = planes * Block.expansion;
        const downsample =
          i === 0 && (s !== 1 || inPlanes !== outPlanes) ? new Sequential(conv1x1(inPlanes, outPlanes, s), new BatchNorm2d(outPlanes)) : null;
        blocks.push(new Block(inPlanes, planes, s, downsample));
        inPlanes = outPlanes;
      }
      return this.registerModule(`layer${stage + 1}`, new Sequential(...blocks));
    });
    this.avgpool = this.registerModule('avgpool', new AdaptiveAvgPool2d(1));
    this.featureDim = inPlanes;
    this.fc = o.numClasses === null ? null : this.registerModule('fc', new Linear(inPlanes, o.numClasses));

    // torchvision's initialisation: Kaiming-normal (fan_out) convs, BN γ=1 β=0 (BatchNorm's own default).
    this.apply((m) => {
      if (m instanceof Conv2d) kaimingNormalFanOut(m.weight);
    });
    if (o.zeroInitResidual) {
      this.apply((m) => {
        if (m instanceof Block) noGrad(() => m.lastBn.weight!.zero_());
      });
    }
  }

  /** Every convolution with the BatchNorm right after it (what nn/fold.ts folds for inference). */
  convBatchNormPairs(): [Conv2d, BatchNorm2d][] {
    return [[this.conv1, this.bn1], ...this.layers.flatMap((layer) => [...layer.children()].flatMap(([, block]) => (block as Block).convBatchNormPairs()))];
  }

  /** h: the globally average-pooled features (or the logits when a classifier is attached). */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.size(1) !== this.options.inChannels) {
      throw new RangeError(`ResNet expects images [N, ${this.options.inChannels}, H, W], got [${x.shape.join(', ')}]`);
    }
    let out = this.maxpool.forward(this.bn1.forwardRelu(this.conv1.forward(x)));
    for (const layer of this.layers) out = layer.forward(out);
    const h = this.avgpool.forward(out).flatten(1);
    return this.fc ? this.fc.forward(h) : h;
  }
}

/** ResNet-N encoder (no classifier unless numClasses is given). */
export function resnet(depth: ResNetDepth, options: Omit<ResNetOptions, 'depth'> = {}): ResNet {
  return new ResNet({ ...options, depth });
}
