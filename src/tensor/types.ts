// Value types shared by the tensor API and the generated operator wrappers.

/** Element type of a tensor, named as in PyTorch (float32 = torch.float). */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'complex64'
  | 'complex128';

/** 'cpu', 'cuda' or 'cuda:N'. */
export type Device = string;

/** Memory layout: dense row-major ('contiguous'), NHWC for 4-d tensors ('channels_last'), or whatever the source has ('preserve'). */
export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';

/** A number holding an integer is passed as an integer scalar (as a Python int), otherwise as a double. */
export type Scalar = number | boolean;
