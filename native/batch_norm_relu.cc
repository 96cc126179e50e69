// relu(batch_norm(x)) and relu(batch_norm(x) + residual) in training mode as autograd functions,
// for float32 or bfloat16 rows of channels (a channels-last 4-d tensor, or [N, C]). The step's
// non-convolution time is memory passes over the activations. Unfused, BatchNorm and ReLU take five
// forward (statistics; normalise: read, write; ReLU: read, write) and eight backward (ReLU's mask:
// two reads, a write; BatchNorm's sums: two reads; its input gradient: two reads, a write); fused,
// three forward (statistics; normalise and rectify) and five backward (the sums over the masked
// gradient; the input gradient), the mask recomputed from x rather than read from a saved output,
// and no pre-ReLU tensor kept. With a residual: see BatchNormAddReluFn.
#include "common.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace simclr {
namespace {

// Rows per block: a block of x stays in cache between the two reads that its moments take. The
// blocks, not the threads, fix the summation order, so results do not depend on the thread count.
int64_t blockRows(int64_t channels) { return std::max<int64_t>(16, (32 << 10) / (channels * 4)); }
int64_t blockCount(int64_t rows, int64_t perBlock) { return (rows + perBlock - 1) / perBlock; }

// Activations are float32 or bfloat16 (under bf16 autocast); statistics, scale and shift and the
// per-channel sums are float32 whatever the activations' type, and each element is computed in
// float32 and rounded once when stored.
inline float toFloat(float v) { return v; }
inline float toFloat(c10::BFloat16 v) { return static_cast<float>(v); }
template <typename T>
inline T fromFloat(float v) {
  return v;
}
// Rounded to nearest even, NaN kept a quiet NaN: c10::BFloat16's rounding, written without its
// branch so that the loops vectorise.
template <>
inline c10::BFloat16 fromFloat(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  return c10::BFloat16(static_cast<uint16_t>(v != v ? 0x7FC0u : rounded), c10::BFloat16::from_bits());
}

// The loops run over channels innermost, each channel's sums in row order: vectorised across
// channels, in the same order in every build (AVX2 or not), so the results are the same bits.
// Each kernel is a template, inlined into one function per activation type that is compiled
// twice, for AVX2 and for any x86-64 (target_clones does not take templates).
#define SIMCLR_KERNEL __attribute__((target_clones("avx2", "default")))
#define SIMCLR_INLINE inline __attribute__((always_inline))

// A block's per-channel mean and sum of squared deviations from it (two reads, the second from cache).
template <typename T>
SIMCLR_INLINE void blockMomentsOf(const T* __restrict x, int64_t rows, int64_t channels, float* __restrict mean, float* __restrict m2) {
  std::fill(mean, mean + channels, 0.f);
  std::fill(m2, m2 + channels, 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * channels;
    for (int64_t c = 0; c < channels; ++c) mean[c] += toFloat(row[c]);
  }
  const float inv = 1.f / static_cast<float>(rows);
  for (int64_t c = 0; c < channels; ++c) mean[c] *= inv;
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float d = toFloat(row[c]) - mean[c];
      m2[c] += d * d;
    }
  }
}

// y = max(x·a + b [+ residual], 0) (NaN passes through, as ATen's relu).
template <typename T, bool withResidual>
SIMCLR_INLINE void normaliseRectifyOf(const T* __restrict x, const T* __restrict residual, int64_t rows, int64_t channels, const float* __restrict a,
                                      const float* __restrict b, T* __restrict y) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* in = x + r * channels;
    const T* add = residual + r * channels;
    T* out = y + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      float z = toFloat(in[c]) * a[c] + b[c];
      if constexpr (withResidual) z += toFloat(add[c]);
      out[c] = fromFloat<T>(z < 0.f ? 0.f : z);
    }
  }
}

// Over a block: Σ g and Σ g·(x − μ), g = gy where x·a + b > 0 (the forward's ReLU mask), else 0.
template <typename T>
SIMCLR_INLINE void blockGradSumsOf(const T* __restrict gy, const T* __restrict x, int64_t rows, int64_t channels, const float* __restrict a,
                                   const float* __restrict b, const float* __restrict mean, float* __restrict sumG, float* __restrict sumGD) {
  std::fill(sumG, sumG + channels, 0.f);
  std::fill(sumGD, sumGD + channels, 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gy + r * channels;
    const T* in = x + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float grad = toFloat(g[c]);  // (loaded unconditionally: a conditional load would not vectorise)
      const float v = toFloat(in[c]);
      const float masked = v * a[c] + b[c] > 0.f ? grad : 0.f;
      sumG[c] += masked;
      sumGD[c] += masked * (v - mean[c]);
    }
  }
}

// dx = g·a + x·k + k0 (BatchNorm's input gradient with the batch statistics, expanded per channel).
template <typename T>
SIMCLR_INLINE void inputGradOf(const T* __restrict gy, const T* __restrict x, int64_t rows, int64_t channels, const float* __restrict a, const float* __restrict b,
                               const float* __restrict k, const float* __restrict k0, T* __restrict dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* g = gy + r * channels;
    const T* in = x + r * channels;
    T* out = dx + r * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const float grad = toFloat(g[c]);
      const float v = toFloat(in[c]);
      const float masked = v * a[c] + b[c] > 0.f ? grad : 0.f;
      out[c] = fromFloat<T>(masked * a[c] + v * k[c] + k0[c]);
    }
  }
}

#define SIMCLR_KERNELS(T)                                                                                                                           \
  SIMCLR_KERNEL void blockMoments(const T* x, int64_t rows, int64_t channels, float* mean, float* m2) { blockMomentsOf(x, rows, channels, mean, m2); } \
  SIMCLR_KERNEL void normaliseRectify(const T* x, const T* residual, int64_t rows, int64_t channels, const float* a, const float* b, T* y) {           \
    if (residual == nullptr) {                                                                                                                      \
      normaliseRectifyOf<T, false>(x, x, rows, channels, a, b, y);                                                                                  \
    } else {                                                                                                                                        \
      normaliseRectifyOf<T, true>(x, residual, rows, channels, a, b, y);                                                                            \
    }                                                                                                                                               \
  }                                                                                                                                                 \
  SIMCLR_KERNEL void blockGradSums(const T* gy, const T* x, int64_t rows, int64_t channels, const float* a, const float* b, const float* mean,         \
                                   float* sumG, float* sumGD) {                                                                                     \
    blockGradSumsOf(gy, x, rows, channels, a, b, mean, sumG, sumGD);                                                                                \
  }                                                                                                                                                 \
  SIMCLR_KERNEL void inputGrad(const T* gy, const T* x, int64_t rows, int64_t channels, const float* a, const float* b, const float* k,               \
                               const float* k0, T* dx) {                                                                                            \
    inputGradOf(gy, x, rows, channels, a, b, k, k0, dx);                                                                                            \
  }
SIMCLR_KERNELS(float)
SIMCLR_KERNELS(c10::BFloat16)

// Runs the lambda with scalar_t the activations' element type (ATen's dispatch, for the two types
// fusable() lets through).
#define SIMCLR_DISPATCH(x, ...) \
  AT_DISPATCH_SWITCH((x).scalar_type(), "batch_norm_relu", AT_DISPATCH_CASE(at::kFloat, __VA_ARGS__) AT_DISPATCH_CASE(at::kBFloat16, __VA_ARGS__))

// Runs fn(block, first row, rows) over the blocks of `rows`, in parallel.
template <typename Fn>
void forBlocks(int64_t rows, int64_t perBlock, const Fn& fn) {
  const int64_t blocks = blockCount(rows, perBlock);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i, i * perBlock, std::min(perBlock, rows - i * perBlock));
  });
}

// Rows × channels view of a fusable input: [N, C] or channels-last [N, C, H, W], float32 or bfloat16.
bool fusable(const at::Tensor& x) {
  if ((x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16) || x.device().type() != at::kCPU) return false;
  if (x.dim() == 2) return x.is_contiguous();
  return x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// a = γ/√(σ² + ε) and b = β − μ·a per channel.
void scaleShift(const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& mean, const at::Tensor& invstd, at::Tensor& a, at::Tensor& b) {
  a = invstd * weight;
  b = bias - mean * a;
}

// Options for per-channel tensors (statistics, weight and bias, their gradients): float32 whatever
// the activations' type, as autocast keeps BatchNorm's parameters.
at::TensorOptions channelOptions(const at::Tensor& x) { return x.options().dtype(at::kFloat); }

// The batch's per-channel mean, biased variance and 1/√(variance + ε): each block's moments, then
// the blocks' combined in block order, in double (Chan et al.'s parallel variance).
struct Moments {
  at::Tensor mean, variance, invstd;
};
Moments batchMoments(const at::Tensor& x, double eps) {
  const int64_t channels = x.size(1);
  const int64_t rows = x.numel() / channels;
  TORCH_CHECK(rows > 1, "batch norm: expected more than 1 value per channel when training, got input of shape ", x.sizes());
  const int64_t perBlock = blockRows(channels);
  const int64_t blocks = blockCount(rows, perBlock);
  std::vector<float> means(blocks * channels), m2s(blocks * channels);
  SIMCLR_DISPATCH(x, [&] {
    const scalar_t* px = x.data_ptr<scalar_t>();
    forBlocks(rows, perBlock, [&](int64_t i, int64_t first, int64_t n) {
      blockMoments(px + first * channels, n, channels, &means[i * channels], &m2s[i * channels]);
    });
  });
  const auto options = channelOptions(x);
  Moments m{at::empty({channels}, options), at::empty({channels}, options), at::empty({channels}, options)};
  for (int64_t c = 0; c < channels; ++c) {
    double n = 0, mu = 0, m2 = 0;
    for (int64_t i = 0; i < blocks; ++i) {
      const double nb = static_cast<double>(std::min(perBlock, rows - i * perBlock));
      const double delta = means[i * channels + c] - mu;
      const double total = n + nb;
      mu += delta * nb / total;
      m2 += m2s[i * channels + c] + delta * delta * n * nb / total;
      n = total;
    }
    m.mean.data_ptr<float>()[c] = static_cast<float>(mu);
    m.variance.data_ptr<float>()[c] = static_cast<float>(m2 / n);
    m.invstd.data_ptr<float>()[c] = static_cast<float>(1.0 / std::sqrt(m2 / n + eps));
  }
  return m;
}

// y = max(x·a + b [+ residual], 0) with a and b from the batch's statistics.
at::Tensor rectified(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& mean,
                               const at::Tensor& invstd) {
  const int64_t channels = x.size(1);
  at::Tensor a, b;
  scaleShift(weight, bias, mean, invstd, a, b);
  auto y = at::empty_like(x);
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  SIMCLR_DISPATCH(x, [&] {
    const scalar_t* px = x.data_ptr<scalar_t>();
    const scalar_t* pr = residual.defined() ? residual.data_ptr<scalar_t>() : nullptr;
    scalar_t* py = y.data_ptr<scalar_t>();
    forBlocks(x.numel() / channels, blockRows(channels), [&](int64_t, int64_t first, int64_t n) {
      const int64_t offset = first * channels;
      normaliseRectify(px + offset, pr == nullptr ? nullptr : pr + offset, n, channels, pa, pb, py + offset);
    });
  });
  return y;
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Outputs y and, not differentiable, the batch's mean and (biased) variance for the running
// statistics. weight and bias are always tensors (ones and zeros stand in for absent ones).
struct BatchNormReluFn : public torch::autograd::Function<BatchNormReluFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
    RECORD_FUNCTION("simclr::batch_norm_relu", std::vector<c10::IValue>({x}));  // (for the profiler: no dispatcher op runs the kernels)
    auto [mean, variance, invstd] = batchMoments(x, eps);
    auto y = rectified(x, at::Tensor(), weight, bias, mean, invstd);
    ctx->save_for_backward({x, weight, bias, mean, invstd});
    ctx->mark_non_differentiable({mean, variance});
    return {y, mean, variance};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& x = saved[0];
    const auto& weight = saved[1];
    const auto& bias = saved[2];
    const auto& mean = saved[3];
    const auto& invstd = saved[4];
    const auto gy = grads[0].to(x.scalar_type()).contiguous(x.dim() == 4 ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
    const int64_t channels = x.size(1);
    const int64_t rows = x.numel() / channels;
    at::Tensor a, b;
    scaleShift(weight, bias, mean, invstd, a, b);
    const float* pa = a.data_ptr<float>();
    const float* pb = b.data_ptr<float>();
    const int64_t perBlock = blockRows(channels);
    const int64_t blocks = blockCount(rows, perBlock);
    std::vector<float> sumsG(blocks * channels), sumsGD(blocks * channels);
    SIMCLR_DISPATCH(x, [&] {
      const scalar_t* px = x.data_ptr<scalar_t>();
      const scalar_t* pg = gy.data_ptr<scalar_t>();
      forBlocks(rows, perBlock, [&](int64_t i, int64_t first, int64_t n) {
        blockGradSums(pg + first * channels, px + first * channels, n, channels, pa, pb, mean.data_ptr<float>(), &sumsG[i * channels],
                      &sumsGD[i * channels]);
      });
    });
    // dβ = Σ g, dγ = Σ g·x̂; dx = a·(g − dβ/M − x̂·dγ/M) = g·a + x·k + k0.
    const auto options = channelOptions(x);
    auto dBias = at::empty({channels}, options);
    auto dWeight = at::empty({channels}, options);
    auto k = at::empty({channels}, options);
    auto k0 = at::empty({channels}, options);
    for (int64_t c = 0; c < channels; ++c) {
      double sumG = 0, sumGD = 0;
      for (int64_t i = 0; i < blocks; ++i) {
        sumG += sumsG[i * channels + c];
        sumGD += sumsGD[i * channels + c];
      }
      const double r = invstd.data_ptr<float>()[c];
      const double ac = pa[c];
      const double meanG = sumG / rows;
      const double meanGXhat = sumGD * r / rows;
      dBias.data_ptr<float>()[c] = static_cast<float>(sumG);
      dWeight.data_ptr<float>()[c] = static_cast<float>(sumGD * r);
      k.data_ptr<float>()[c] = static_cast<float>(-ac * r * meanGXhat);
      k0.data_ptr<float>()[c] = static_cast<float>(-ac * meanG + ac * r * meanGXhat * mean.data_ptr<float>()[c]);
    }
    at::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      dx = at::empty_like(x);
      const float* pk = k.data_ptr<float>();
      const float* pk0 = k0.data_ptr<float>();
      SIMCLR_DISPATCH(x, [&] {
        const scalar_t* px = x.data_ptr<scalar_t>();
        const scalar_t* pg = gy.data_ptr<scalar_t>();
        scalar_t* pdx = dx.data_ptr<scalar_t>();
        forBlocks(rows, perBlock, [&](int64_t, int64_t first, int64_t n) {
          inputGrad(pg + first * channels, px + first * channels, n, channels, pa, pb, pk, pk0, pdx + first * channels);
        });
      });
    }
    return {dx, dWeight, dBias, at::Tensor()};
  }
};

// relu(batch_norm(x) + residual), the end of a residual block. Forward in two passes instead of
// eight (statistics; normalise, add and rectify, where BatchNorm, the in-place add and ReLU read
// and write separately); backward as libtorch's (ReLU's mask from the saved output, then
// BatchNorm's backward): fused, it would take a pass more, as the residual's gradient must be
// written anyway.
struct BatchNormAddReluFn : public torch::autograd::Function<BatchNormAddReluFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight, const at::Tensor& bias,
                               double eps) {
    RECORD_FUNCTION("simclr::batch_norm_add_relu", std::vector<c10::IValue>({x}));
    auto [mean, variance, invstd] = batchMoments(x, eps);
    auto y = rectified(x, residual, weight, bias, mean, invstd);
    ctx->save_for_backward({x, weight, mean, invstd, y});
    ctx->saved_data["eps"] = eps;
    ctx->mark_non_differentiable({mean, variance});
    return {y, mean, variance};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto gz = at::threshold_backward(grads[0], saved[4], 0);
    auto [dx, dWeight, dBias] = at::native_batch_norm_backward(gz, saved[0], saved[1], at::Tensor(), at::Tensor(), saved[2], saved[3], true,
                                                               ctx->saved_data["eps"].toDouble(), {ctx->needs_input_grad(0), true, true});
    return {dx, gz, dWeight, dBias, at::Tensor()};
  }
};

at::Tensor optional(Napi::Env env, const Napi::Value& v, const char* what) {
  return v.IsNull() || v.IsUndefined() ? at::Tensor() : unwrap(env, v, what);
}

// batchNormRelu(x, residual|null, weight|null, bias|null, runningMean|null, runningVar|null,
// momentum, eps): relu(batch_norm(x) [+ residual]) with the batch's statistics, updating the
// running ones (unbiased variance, as ATen); null when x (or the residual) is not fusable: the
// caller then takes the unfused path.
Napi::Value BatchNormRelu(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto& x = unwrap(env, info[0], "x");
  const auto residual = optional(env, info[1], "residual");
  if (!fusable(x) || (residual.defined() && !(fusable(residual) && residual.sizes() == x.sizes() && residual.scalar_type() == x.scalar_type()))) {
    return env.Null();
  }
  auto weight = optional(env, info[2], "weight");
  auto bias = optional(env, info[3], "bias");
  auto runningMean = optional(env, info[4], "runningMean");
  auto runningVar = optional(env, info[5], "runningVar");
  for (const auto* t : {&weight, &bias, &runningMean, &runningVar}) {
    if (!t->defined()) continue;
    TORCH_CHECK(t->dim() == 1 && t->size(0) == x.size(1) && t->scalar_type() == at::kFloat && t->is_contiguous(),
                "batch norm: per-channel tensors must be float32 of shape [", x.size(1), "], got ", t->sizes());
  }
  const double momentum = info[6].As<Napi::Number>().DoubleValue();
  const double eps = info[7].As<Napi::Number>().DoubleValue();
  if (!weight.defined()) weight = at::ones({x.size(1)}, channelOptions(x));
  if (!bias.defined()) bias = at::zeros({x.size(1)}, channelOptions(x));
  auto outputs = residual.defined() ? BatchNormAddReluFn::apply(x, residual, weight, bias, eps) : BatchNormReluFn::apply(x, weight, bias, eps);
  if (runningMean.defined() && runningVar.defined()) {
    at::NoGradGuard noGrad;
    const double rows = static_cast<double>(x.numel() / x.size(1));
    runningMean.mul_(1 - momentum).add_(outputs[1], momentum);
    runningVar.mul_(1 - momentum).add_(outputs[2], momentum * rows / (rows - 1));
  }
  return wrap(env, outputs[0]);
  SIMCLR_CATCH(env)
}

}  // namespace

void initBatchNormRelu(Napi::Env env, Napi::Object exports) { exports.Set("batchNormRelu", Napi::Function::New(env, BatchNormRelu)); }

}  // namespace simclr
