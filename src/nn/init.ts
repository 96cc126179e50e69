// Weight initialisation as torch.nn.init, in place on the libtorch generator (seeded by manualSeed).
import { noGrad, Tensor } from '../tensor/tensor.js';

/** fan_in and fan_out of a weight [out, in, k...] as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(t: Tensor): {
  /** in × the kernel's elements. */
  fanIn: number;
  /** out × the kernel's elements. */
  fanOut: number;
} {
  const [out, inp, ...kernel] = t.shape;
  if (out === undefined || inp === undefined) throw new RangeError('fans need a tensor with at least 2 dims');
  const receptive = kernel.reduce((a, b) => a * b, 1);
  return { fanIn: inp * receptive, fanOut: out * receptive };
}

/** U(-bound, bound). */
export function uniform(t: Tensor, bound: number): Tensor {
  return noGrad(() => t.uniform_(-bound, bound));
}

/** kaiming_uniform_(t, a) with fan_in and leaky_relu gain, torch.nn.Linear/Conv2d's default. */
export function kaimingUniform(t: Tensor, a: number): Tensor {
  const gain = Math.sqrt(2 / (1 + a * a));
  return uniform(t, gain * Math.sqrt(3 / fans(t).fanIn));
}

/** kaiming_normal_(t, mode='fan_out', nonlinearity='relu'), torchvision's ResNet conv init. */
export function kaimingNormalFanOut(t: Tensor): Tensor {
  return noGrad(() => t.normal_(0, Math.sqrt(2 / fans(t).fanOut)));
}
