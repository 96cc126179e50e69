// Fused per-pixel kernels for the augmentation T. Written in C++ because the profile says so:
// built from ATen ops, the crop resampling (grid_sample), the colour jitter (HSV round trip) and
// the per-image blur (grouped convolutions) made a dozen full-batch temporaries and ran 5-10x
// slower than these single passes.
// They parallelise over the views with at::parallel_for; augmentAsync runs them all in a worker thread.
#include "common.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace simclr {
namespace {

// Hot loops are compiled for AVX-512, AVX2 and the baseline, picked at run time.
#define SIMCLR_VECTOR __attribute__((target_clones("avx512f", "avx2", "default")))

// Ternaries rather than std::min/max or fminf/fmaxf: they vectorise (with -fno-trapping-math).
inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
inline float max3(float a, float b, float c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }
inline float min3(float a, float b, float c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }

// The source pixels and weights of each output pixel of a resampling from `in` to `out` pixels along one axis.
// Enlarging (in <= out): bilinear, exactly as ATen's upsample_bilinear2d with align_corners=false computes it
// (area_pixel_compute_source_index); two taps, the second equal to the first at the last pixel.
// Shrinking: the bilinear (triangle) filter stretched by the scale, as ATen's antialiased
// _upsample_bilinear2d_aa and PIL's resize compute it, so that a large crop is averaged, not aliased.
struct Taps {
  int64_t stride = 0;              // taps per output pixel (unused ones weigh 0)
  std::vector<int64_t> index;      // [out * stride]
  std::vector<float> weight;       // [out * stride]
  std::vector<int64_t> count;      // [out]: the taps that weigh (the first count[o] of each output)
};

Taps taps(int64_t in, int64_t out) {
  Taps t;
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  if (in <= out) {
    t.stride = 2;
    t.index.resize(2 * out);
    t.weight.resize(2 * out);
    t.count.assign(out, 2);
    for (int64_t o = 0; o < out; ++o) {
      float src = scale * (o + 0.5f) - 0.5f;
      if (src < 0) src = 0;
      int64_t lo = static_cast<int64_t>(src);
      int64_t hi = lo + (lo < in - 1 ? 1 : 0);
      float w = src - lo;
      t.index[2 * o] = lo;
      t.index[2 * o + 1] = hi;
      t.weight[2 * o] = 1.0f - w;
      t.weight[2 * o + 1] = w;
    }
    return t;
  }
  const float support = scale;  // the triangle's half-width (1 source pixel) times the scale
  t.stride = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.index.assign(t.stride * out, 0);
  t.weight.assign(t.stride * out, 0.0f);
  t.count.assign(out, 0);
  for (int64_t o = 0; o < out; ++o) {
    const float centre = scale * (o + 0.5f);
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(centre - support + 0.5f), 0);
    const int64_t count = std::min<int64_t>(std::min<int64_t>(static_cast<int64_t>(centre + support + 0.5f), in) - lo, t.stride);
    float total = 0;
    for (int64_t k = 0; k < count; ++k) {
      float w = 1.0f - std::fabs((k + lo - centre + 0.5f) / scale);
      w = w > 0 ? w : 0.0f;
      t.index[o * t.stride + k] = lo + k;
      t.weight[o * t.stride + k] = w;
      total += w;
    }
    for (int64_t k = 0; k < count; ++k) t.weight[o * t.stride + k] /= total;
    t.count[o] = count;
    for (int64_t k = count; k < t.stride; ++k) t.index[o * t.stride + k] = lo;  // weight 0
  }
  return t;
}

// One view: the box of one frame resampled to size x size (flipped when asked), as float C x size x size.
// The frame's pixel (c, y, x) is at frame[c * channelStride + (y * width + x) * pixelStride]: planar (CHW)
// or interleaved (HWC, as images decode). Rows first, then columns, through a C x h x size buffer.
template <typename T>
void cropOne(const T* frame, int64_t channels, int64_t width, int64_t channelStride, int64_t pixelStride, const int64_t* box,
             bool flip, int64_t size, float* dst, std::vector<float>& rows) {
  const int64_t x0 = box[0], y0 = box[1], w = box[2], h = box[3];
  const float unit = std::is_same<T, uint8_t>::value ? 1.0f / 255.0f : 1.0f;
  const Taps xs = taps(w, size), ys = taps(h, size);
  rows.resize(channels * h * size);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t y = 0; y < h; ++y) {
      const T* row = frame + c * channelStride + ((y0 + y) * width + x0) * pixelStride;
      float* o = rows.data() + (c * h + y) * size;
      for (int64_t ox = 0; ox < size; ++ox) {
        const int64_t at = (flip ? size - 1 - ox : ox) * xs.stride;
        float v = xs.weight[at] * static_cast<float>(row[xs.index[at] * pixelStride]);
        for (int64_t k = 1; k < xs.stride; ++k) v += xs.weight[at + k] * static_cast<float>(row[xs.index[at + k] * pixelStride]);
        o[ox] = v;
      }
    }
    float* out = dst + c * size * size;
    const float* plane = rows.data() + c * h * size;
    for (int64_t oy = 0; oy < size; ++oy) {
      const int64_t at = oy * ys.stride;
      float* o = out + oy * size;
      const float* r0 = plane + ys.index[at] * size;
      for (int64_t ox = 0; ox < size; ++ox) o[ox] = ys.weight[at] * r0[ox];
      for (int64_t k = 1; k < ys.stride; ++k) {
        const float* r = plane + ys.index[at + k] * size;
        const float wk = ys.weight[at + k];
        for (int64_t ox = 0; ox < size; ++ox) o[ox] += wk * r[ox];
      }
      for (int64_t ox = 0; ox < size; ++ox) o[ox] *= unit;
    }
  }
}

SIMCLR_VECTOR void scaledRow(const uint8_t* __restrict in, float w, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = w * static_cast<float>(in[j]);
}
SIMCLR_VECTOR void scaledRow(const float* __restrict in, float w, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = w * in[j];
}
SIMCLR_VECTOR void addScaledRow(const uint8_t* __restrict in, float w, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += w * static_cast<float>(in[j]);
}
SIMCLR_VECTOR void addScaledRow(const float* __restrict in, float w, float* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] += w * in[j];
}

// The taps along the rows of an interleaved RGB crop (size rows of span values): the three channels of
// a pixel from one set of taps, into planar output.
void rowTaps3(const float* rows, const Taps& xs, bool flip, int64_t size, int64_t span, float unit, float* dst) {
  float* out0 = dst;
  float* out1 = dst + size * size;
  float* out2 = dst + 2 * size * size;
  for (int64_t oy = 0; oy < size; ++oy) {
    const float* row = rows + oy * span;
    for (int64_t ox = 0; ox < size; ++ox) {
      const int64_t col = flip ? size - 1 - ox : ox, at = col * xs.stride, count = xs.count[col];
      const float* p = row + 3 * xs.index[at];
      const float w0 = xs.weight[at];
      float r = w0 * p[0], g = w0 * p[1], b = w0 * p[2];
      for (int64_t k = 1; k < count; ++k) {
        const float w = xs.weight[at + k];
        const float* q = row + 3 * xs.index[at + k];
        r += w * q[0];
        g += w * q[1];
        b += w * q[2];
      }
      out0[oy * size + ox] = r * unit;
      out1[oy * size + ox] = g * unit;
      out2[oy * size + ox] = b * unit;
    }
  }
}

// The same view when the box shrinks along either side: the rows first (each output row a weighted
// sum of whole source rows across the box: contiguous, vectorised, however many taps), then the
// taps along each row of the size x w result, fewer than the box's rows. A planar frame's channels
// are separate lines; an interleaved frame's row is one line of w x C values.
template <typename T>
void cropShrinking(const T* frame, int64_t channels, int64_t width, int64_t channelStride, int64_t pixelStride, const int64_t* box,
                   bool flip, int64_t size, float* dst, std::vector<float>& rows) {
  const int64_t x0 = box[0], y0 = box[1], w = box[2], h = box[3];
  const float unit = std::is_same<T, uint8_t>::value ? 1.0f / 255.0f : 1.0f;
  const Taps xs = taps(w, size), ys = taps(h, size);
  const bool interleaved = pixelStride != 1;
  const int64_t lines = interleaved ? 1 : channels, span = interleaved ? w * channels : w;
  rows.resize(lines * size * span);
  for (int64_t l = 0; l < lines; ++l) {
    const T* plane = frame + l * channelStride + x0 * pixelStride;
    for (int64_t oy = 0; oy < size; ++oy) {
      const int64_t at = oy * ys.stride;
      float* o = rows.data() + (l * size + oy) * span;
      scaledRow(plane + (y0 + ys.index[at]) * width * pixelStride, ys.weight[at], o, span);
      for (int64_t k = 1; k < ys.count[oy]; ++k) addScaledRow(plane + (y0 + ys.index[at + k]) * width * pixelStride, ys.weight[at + k], o, span);
    }
  }
  if (interleaved && channels == 3) {
    rowTaps3(rows.data(), xs, flip, size, span, unit, dst);
    return;
  }
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = rows.data() + (interleaved ? 0 : c * size * span);
    const int64_t step = interleaved ? channels : 1, first = interleaved ? c : 0;
    float* out = dst + c * size * size;
    for (int64_t oy = 0; oy < size; ++oy) {
      const float* row = plane + oy * span + first;
      float* o = out + oy * size;
      for (int64_t ox = 0; ox < size; ++ox) {
        const int64_t col = flip ? size - 1 - ox : ox, at = col * xs.stride;
        float v = xs.weight[at] * row[xs.index[at] * step];
        for (int64_t k = 1; k < xs.count[col]; ++k) v += xs.weight[at + k] * row[xs.index[at + k] * step];
        o[ox] = v * unit;
      }
    }
  }
}

// resizedCrops(data uint8 or float (any shape, contiguous), frames int64 [N, 3] (offset, height, width),
//              channels, interleaved, source int64 [M], boxes int64 [M, 4] (x, y, w, h), flips uint8 [M], size)
//   -> float [M, C, size, size], in [0, 1] for uint8 input.
// Frame j holds channels x height x width values of `data` from `offset` on, planar (CHW) or interleaved
// (HWC); frames may differ in size. View i is box i of frame source[i].
// Runs body(begin, end) over [0, n): split among ATen's threads, or in the calling thread (the
// asynchronous augmentation runs beside a training step, which has the threads).
template <typename F>
void forViews(int64_t n, bool parallel, const F& body) {
  if (parallel) at::parallel_for(0, n, 1, body);
  else if (n > 0) body(0, n);
}

at::Tensor cropViews(const at::Tensor& dataIn, const at::Tensor& framesIn, int64_t channels, bool interleaved, const at::Tensor& sourceIn,
                     const at::Tensor& boxesIn, const at::Tensor& flipsIn, int64_t size, bool parallel) {
  auto data = dataIn.contiguous();
  auto frames = framesIn.to(at::kLong).contiguous();
  auto source = sourceIn.to(at::kLong).contiguous();
  auto boxes = boxesIn.to(at::kLong).contiguous();
  auto flips = flipsIn.to(at::kByte).contiguous();
  TORCH_CHECK(data.device().is_cpu(), "resizedCrops: the frames must be on the CPU");
  TORCH_CHECK(data.scalar_type() == at::kByte || data.scalar_type() == at::kFloat, "resizedCrops: frames must be uint8 or float32");
  TORCH_CHECK(frames.dim() == 2 && frames.size(1) == 3, "resizedCrops: need one [offset, height, width] row per frame");
  TORCH_CHECK(channels > 0, "resizedCrops: channels must be positive");
  const int64_t n = frames.size(0);
  const int64_t m = source.numel();
  TORCH_CHECK(size > 0, "resizedCrops: size must be positive");
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(0) == m && boxes.size(1) == 4 && flips.numel() == m,
              "resizedCrops: need one box [x, y, w, h] and one flip flag per view");
  const int64_t* frame = frames.data_ptr<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    const int64_t* f = frame + 3 * j;
    TORCH_CHECK_INDEX(f[0] >= 0 && f[1] > 0 && f[2] > 0 && f[0] + channels * f[1] * f[2] <= data.numel(), "resizedCrops: frame ", j,
                      " (offset ", f[0], ", ", f[1], "x", f[2], ") is not inside the ", data.numel(), " values of the data");
  }
  const int64_t* src = source.data_ptr<int64_t>();
  const int64_t* box = boxes.data_ptr<int64_t>();
  for (int64_t i = 0; i < m; ++i) {
    const int64_t* b = box + 4 * i;
    TORCH_CHECK_INDEX(src[i] >= 0 && src[i] < n, "resizedCrops: source index ", src[i], " out of range for ", n, " frames");
    const int64_t height = frame[3 * src[i] + 1], width = frame[3 * src[i] + 2];
    TORCH_CHECK_INDEX(b[2] > 0 && b[3] > 0 && b[0] >= 0 && b[1] >= 0 && b[0] + b[2] <= width && b[1] + b[3] <= height,
                      "resizedCrops: box [", b[0], ", ", b[1], ", ", b[2], ", ", b[3], "] is not inside a ", width, "x",
                      height, " image");
  }
  auto out = at::empty({m, channels, size, size}, at::TensorOptions().dtype(at::kFloat));
  const uint8_t* flip = flips.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  forViews(m, parallel, [&](int64_t begin, int64_t end) {
    std::vector<float> rows;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t* f = frame + 3 * src[i];
      const int64_t height = f[1], width = f[2];
      const int64_t channelStride = interleaved ? 1 : height * width, pixelStride = interleaved ? channels : 1;
      float* o = dst + i * channels * size * size;
      // (boxes no larger than the view keep the bilinear pass that matches upsample_bilinear2d bit for bit)
      const bool shrinks = box[4 * i + 2] > size || box[4 * i + 3] > size;
      if (data.scalar_type() == at::kByte) {
        const uint8_t* frameData = data.data_ptr<uint8_t>() + f[0];
        if (shrinks) cropShrinking(frameData, channels, width, channelStride, pixelStride, box + 4 * i, flip[i] != 0, size, o, rows);
        else cropOne(frameData, channels, width, channelStride, pixelStride, box + 4 * i, flip[i] != 0, size, o, rows);
      } else {
        const float* frameData = data.data_ptr<float>() + f[0];
        if (shrinks) cropShrinking(frameData, channels, width, channelStride, pixelStride, box + 4 * i, flip[i] != 0, size, o, rows);
        else cropOne(frameData, channels, width, channelStride, pixelStride, box + 4 * i, flip[i] != 0, size, o, rows);
      }
    }
  });
  return out;
}

Napi::Value ResizedCrops(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return wrap(env, cropViews(unwrap(env, info[0], "data"), unwrap(env, info[1], "frames"), info[2].As<Napi::Number>().Int64Value(),
                             info[3].As<Napi::Boolean>().Value(), unwrap(env, info[4], "source"), unwrap(env, info[5], "boxes"),
                             unwrap(env, info[6], "flips"), info[7].As<Napi::Number>().Int64Value(), true));
  SIMCLR_CATCH(env)
}

// ---- colour -----------------------------------------------------------------------------------

inline float luma(float r, float g, float b) { return 0.299f * r + 0.587f * g + 0.114f * b; }


// torchvision's _rgb2hsv, hue rotation with Python's modulo, and _hsv2rgb, written without branches
// so that the loop vectorises (selects instead of torchvision's masks and einsum).
SIMCLR_VECTOR void rotateHue(float* __restrict r, float* __restrict g, float* __restrict b, int64_t n, float shift) {
  for (int64_t i = 0; i < n; ++i) {
    const float R = r[i], G = g[i], B = b[i];
    const float maxc = max3(R, G, B);
    const float minc = min3(R, G, B);
    const bool flat = maxc == minc;
    const float cr = maxc - minc;
    const float s = cr / (flat ? 1.0f : maxc);
    const float d = flat ? 1.0f : cr;
    const float rc = (maxc - R) / d, gc = (maxc - G) / d, bc = (maxc - B) / d;
    const float hr = bc - gc, hg = 2.0f + rc - bc, hb = 4.0f + gc - rc;
    float h = maxc == R ? hr : (maxc == G ? hg : hb);
    h = h / 6.0f + 1.0f;
    h -= floorf(h);
    h += shift;
    h -= floorf(h);
    const float v = maxc;
    float sector = floorf(h * 6.0f);
    const float f = h * 6.0f - sector;
    sector = sector >= 6.0f ? 0.0f : sector;
    const float p = clamp01(v * (1.0f - s));
    const float q = clamp01(v * (1.0f - s * f));
    const float t = clamp01(v * (1.0f - s * (1.0f - f)));
    const int k = static_cast<int>(sector);
    r[i] = k == 2 || k == 3 ? p : (k == 4 ? t : (k == 1 ? q : v));
    g[i] = k == 0 ? t : (k <= 2 ? v : (k == 3 ? q : p));
    b[i] = k <= 1 ? p : (k == 2 ? t : (k == 5 ? q : v));
  }
}

SIMCLR_VECTOR void blendWithLuma(float* __restrict r, float* __restrict g, float* __restrict b, int64_t n, float f) {
  for (int64_t i = 0; i < n; ++i) {
    float l = luma(r[i], g[i], b[i]) * (1.0f - f);
    r[i] = clamp01(f * r[i] + l);
    g[i] = clamp01(f * g[i] + l);
    b[i] = clamp01(f * b[i] + l);
  }
}

SIMCLR_VECTOR void scaleShift(float* __restrict x, int64_t n, float f, float add) {
  for (int64_t i = 0; i < n; ++i) x[i] = clamp01(f * x[i] + add);
}

// The in-place kernels work on the raw data: a contiguous CPU float32 batch outside autograd.
void checkImagesInPlace(const at::Tensor& x, const char* op) {
  TORCH_CHECK(x.dim() == 4 && x.scalar_type() == at::kFloat && x.is_contiguous() && x.device().is_cpu(), op,
              ": images must be a contiguous CPU float32 tensor [M, C, H, W]");
  TORCH_CHECK(!x.requires_grad(), op, ": images must not require grad (augmentation is not differentiable)");
}

enum Op : int64_t { kBrightness = 0, kContrast = 1, kSaturation = 2, kHue = 3, kGrayscale = 4, kSolarize = 5 };

// Applies one op to one image [C, HW] in place.
void applyOp(float* x, int64_t channels, int64_t pixels, int64_t op, float f) {
  float* r = x;
  float* g = channels == 3 ? x + pixels : x;
  float* b = channels == 3 ? x + 2 * pixels : x;
  const int64_t all = channels * pixels;
  switch (op) {
    case kBrightness:
      scaleShift(x, all, f, 0.0f);
      break;
    case kContrast: {
      double sum = 0;
      for (int64_t i = 0; i < pixels; ++i) sum += channels == 3 ? luma(r[i], g[i], b[i]) : x[i];
      scaleShift(x, all, f, static_cast<float>(sum / pixels) * (1.0f - f));
      break;
    }
    case kSaturation:
      if (channels == 3) blendWithLuma(r, g, b, pixels, f);
      break;
    case kHue:
      if (channels == 3) rotateHue(r, g, b, pixels, f);
      break;
    case kGrayscale:
      if (channels == 3) blendWithLuma(r, g, b, pixels, 0.0f);
      break;
    case kSolarize:
      for (int64_t i = 0; i < all; ++i) x[i] = x[i] >= f ? 1.0f - x[i] : x[i];
      break;
    default:
      break;
  }
}

// colorOps_(x float [M, C, H, W] (C = 1 or 3), ops int64 [M, K], factors float [M, K]): for each image,
// runs its K ops in order (0 brightness, 1 contrast, 2 saturation, 3 hue, 4 grayscale, 5 solarize
// with the factor as threshold; -1 skips), in place, as torchvision defines them.
void colorOpsInPlace(at::Tensor& x, const at::Tensor& opsIn, const at::Tensor& factorsIn, bool parallel) {
  auto ops = opsIn.to(at::kLong).contiguous();
  auto factors = factorsIn.to(at::kFloat).contiguous();
  checkImagesInPlace(x, "colorOps_");
  TORCH_CHECK(x.size(1) == 1 || x.size(1) == 3, "colorOps_: images must have 1 or 3 channels");
  const int64_t m = x.size(0), channels = x.size(1), pixels = x.size(2) * x.size(3);
  TORCH_CHECK(ops.dim() == 2 && ops.size(0) == m && factors.sizes() == ops.sizes(),
              "colorOps_: ops and factors must both be [M, K] for M images");
  const int64_t k = ops.size(1);
  const int64_t* op = ops.data_ptr<int64_t>();
  const float* factor = factors.data_ptr<float>();
  for (int64_t i = 0; i < m * k; ++i) TORCH_CHECK_INDEX(op[i] >= -1 && op[i] <= kSolarize, "colorOps_: unknown op ", op[i]);
  float* data = x.data_ptr<float>();
  forViews(m, parallel, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      for (int64_t j = 0; j < k; ++j) applyOp(data + i * channels * pixels, channels, pixels, op[i * k + j], factor[i * k + j]);
  });
}

Napi::Value ColorOps(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  colorOpsInPlace(unwrap(env, info[0], "images"), unwrap(env, info[1], "ops"), unwrap(env, info[2], "factors"), true);
  return info[0];
  SIMCLR_CATCH(env)
}

// ---- blur ---------------------------------------------------------------------------------------

inline int64_t reflect(int64_t i, int64_t n) { return i < 0 ? -i : (i >= n ? 2 * n - 2 - i : i); }

// out[x] = Σ_k w[k] · in[x + k] over a padded row: vectorises across x.
SIMCLR_VECTOR void correlate(const float* __restrict in, const float* __restrict w, int64_t taps, float* __restrict out, int64_t n) {
  for (int64_t x = 0; x < n; ++x) out[x] = 0.0f;
  for (int64_t k = 0; k < taps; ++k)
    for (int64_t x = 0; x < n; ++x) out[x] += w[k] * in[x + k];
}

SIMCLR_VECTOR void clampRow(float* __restrict x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = clamp01(x[i]);
}

SIMCLR_VECTOR void accumulateRow(const float* __restrict in, float w, float* __restrict out, int64_t n) {
  for (int64_t x = 0; x < n; ++x) out[x] += w * in[x];
}

// Separable Gaussian blur of one image [C, H, W] in place, reflect padding (torchvision's GaussianBlur),
// clamped to [0, 1].
void blurOne(float* x, int64_t channels, int64_t height, int64_t width, float sigma, int64_t taps) {
  const int64_t half = taps / 2;
  std::vector<float> w(taps);
  float total = 0;
  for (int64_t k = 0; k < taps; ++k) total += w[k] = std::exp(-0.5f * std::pow((k - half) / sigma, 2.0f));
  for (auto& v : w) v /= total;
  std::vector<float> padded(width + 2 * half), tmp(height * width);
  for (int64_t c = 0; c < channels; ++c) {
    float* plane = x + c * height * width;
    for (int64_t y = 0; y < height; ++y) {
      const float* row = plane + y * width;
      for (int64_t i = 0; i < width + 2 * half; ++i) padded[i] = row[reflect(i - half, width)];
      correlate(padded.data(), w.data(), taps, tmp.data() + y * width, width);
    }
    for (int64_t y = 0; y < height; ++y) {
      float* out = plane + y * width;
      for (int64_t i = 0; i < width; ++i) out[i] = 0.0f;
      for (int64_t k = 0; k < taps; ++k) accumulateRow(tmp.data() + reflect(y + k - half, height) * width, w[k], out, width);
      clampRow(out, width);  // float rounding can push a blurred 1 to 1 + 1e-7
    }
  }
}

// gaussianBlur_(x float [M, C, H, W], rows int64 [R], sigma float [R], taps): blurs image rows[i] with
// σ = sigma[i] and an odd kernel of `taps`, in place.
void blurInPlace(at::Tensor& x, const at::Tensor& rowsIn, const at::Tensor& sigmaIn, int64_t taps, bool parallel) {
  auto rows = rowsIn.to(at::kLong).contiguous();
  auto sigma = sigmaIn.to(at::kFloat).contiguous();
  checkImagesInPlace(x, "gaussianBlur_");
  TORCH_CHECK(taps % 2 == 1 && taps / 2 < std::min(x.size(2), x.size(3)), "gaussianBlur_: the kernel size must be odd and its half smaller than the image");
  TORCH_CHECK(rows.numel() == sigma.numel(), "gaussianBlur_: one sigma per row");
  const int64_t* row = rows.data_ptr<int64_t>();
  const float* s = sigma.data_ptr<float>();
  for (int64_t i = 0; i < rows.numel(); ++i) {
    TORCH_CHECK_INDEX(row[i] >= 0 && row[i] < x.size(0), "gaussianBlur_: row ", row[i], " out of range");
    TORCH_CHECK(s[i] > 0, "gaussianBlur_: sigma must be positive");
  }
  const int64_t channels = x.size(1), height = x.size(2), width = x.size(3);
  float* data = x.data_ptr<float>();
  forViews(rows.numel(), parallel, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) blurOne(data + row[i] * channels * height * width, channels, height, width, s[i], taps);
  });
}

Napi::Value GaussianBlur(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  blurInPlace(unwrap(env, info[0], "images"), unwrap(env, info[1], "rows"), unwrap(env, info[2], "sigma"), info[3].As<Napi::Number>().Int64Value(), true);
  return info[0];
  SIMCLR_CATCH(env)
}

// ---- the whole of T, off the main thread ---------------------------------------------------------

// augmentAsync({ data, frames, channels, interleaved, source, boxes, flips, size, ops, factors,
//                blurRows, blurSigma, blurTaps, finalOps, finalFactors, channelsLast }) -> Promise<views>
// The views a training step will need, computed in a libuv worker thread while the main thread runs
// the previous step: the crops, the colour programs, the blur (when blurRows is not empty), the
// final ops (solarize; null: none), and channels-last when asked. One view after another in that
// thread: the step has ATen's threads. The same kernels as the synchronous ops, so the same views.
class AugmentWorker : public Napi::AsyncWorker {
 public:
  AugmentWorker(Napi::Env env, std::vector<at::Tensor> inputs, int64_t channels, bool interleaved, int64_t size, int64_t blurTaps,
                bool channelsLast)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), in_(std::move(inputs)), channels_(channels),
        interleaved_(interleaved), size_(size), blurTaps_(blurTaps), channelsLast_(channelsLast) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      // in_: data, frames, source, boxes, flips, ops, factors, blurRows, blurSigma, finalOps, finalFactors
      out_ = cropViews(in_[0], in_[1], channels_, interleaved_, in_[2], in_[3], in_[4], size_, false);
      colorOpsInPlace(out_, in_[5], in_[6], false);
      if (in_[7].numel() > 0) blurInPlace(out_, in_[7], in_[8], blurTaps_, false);
      if (in_[9].defined()) colorOpsInPlace(out_, in_[9], in_[10], false);
      if (channelsLast_) out_ = out_.contiguous(at::MemoryFormat::ChannelsLast);
    } catch (const c10::Error& e) {
      SetError(e.what_without_backtrace());  // (what() carries libtorch's C++ backtrace: not for a user)
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(wrap(Env(), std::move(out_))); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<at::Tensor> in_;
  int64_t channels_;
  bool interleaved_;
  int64_t size_, blurTaps_;
  bool channelsLast_;
  at::Tensor out_;
};

Napi::Value AugmentAsync(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto o = info[0].As<Napi::Object>();
  std::vector<at::Tensor> inputs;
  for (const char* name : {"data", "frames", "source", "boxes", "flips", "ops", "factors", "blurRows", "blurSigma"}) inputs.push_back(unwrap(env, o.Get(name), name));
  for (const char* name : {"finalOps", "finalFactors"}) inputs.push_back(o.Get(name).IsNull() ? at::Tensor() : unwrap(env, o.Get(name), name));
  auto* worker = new AugmentWorker(env, std::move(inputs), o.Get("channels").As<Napi::Number>().Int64Value(), o.Get("interleaved").As<Napi::Boolean>().Value(),
                                   o.Get("size").As<Napi::Number>().Int64Value(), o.Get("blurTaps").As<Napi::Number>().Int64Value(),
                                   o.Get("channelsLast").As<Napi::Boolean>().Value());
  auto promise = worker->promise();
  worker->Queue();
  return promise;
  SIMCLR_CATCH(env)
}

}  // namespace

void initAugment(Napi::Env env, Napi::Object exports) {
  exports.Set("resizedCrops", Napi::Function::New(env, ResizedCrops));
  exports.Set("colorOps_", Napi::Function::New(env, ColorOps));
  exports.Set("gaussianBlur_", Napi::Function::New(env, GaussianBlur));
  exports.Set("augmentAsync", Napi::Function::New(env, AugmentAsync));
}

}  // namespace simclr
