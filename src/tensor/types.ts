// Value types shared by the tensor API and the generated operator wrappers.

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

export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';

/** A number holding an integer is passed as an integer scalar (as a Python int), otherwise as a double. */
export type Scalar = number | boolean;
