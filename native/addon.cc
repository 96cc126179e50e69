// Addon entry: allocator policy, threads, seed, build facts, and the shared conversions.
#include "common.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/Version.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <malloc.h>
#include <atomic>
#include <cmath>
#include <thread>

namespace simclr {

// ---- conversions shared by the other files -----------------------------------

namespace {
struct DtypeName {
  const char* name;
  at::ScalarType type;
};
const DtypeName kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf},  {"bfloat16", at::kBFloat16},
    {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},   {"int8", at::kChar},
    {"uint8", at::kByte},    {"bool", at::kBool},      {"complex64", at::kComplexFloat},
    {"complex128", at::kComplexDouble},
};
}  // namespace

at::ScalarType parseDtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  TORCH_CHECK_TYPE(false, "unknown dtype '", name, "' (expected one of float32, float64, float16, bfloat16, int64, "
                   "int32, int16, int8, uint8, bool, complex64, complex128)");
}

const char* dtypeName(at::ScalarType type) {
  for (const auto& d : kDtypes)
    if (type == d.type) return d.name;
  return c10::toString(type);
}

at::Device parseDevice(const std::string& name) { return at::Device(name); }

at::MemoryFormat parseMemoryFormat(const std::string& name) {
  if (name == "contiguous") return at::MemoryFormat::Contiguous;
  if (name == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (name == "preserve") return at::MemoryFormat::Preserve;
  TORCH_CHECK_TYPE(false, "unknown memory format '", name, "' (expected contiguous, channels_last or preserve)");
}

// JS numbers that hold integers become integer scalars (as Python ints do); the rest doubles.
at::Scalar toScalar(const Napi::Value& value, const char* what) {
  if (value.IsBoolean()) return at::Scalar(value.As<Napi::Boolean>().Value());
  TORCH_CHECK_TYPE(value.IsNumber(), what, " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0)
    return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

void rethrowAsJs(Napi::Env env) {
  try {
    throw;
  } catch (const c10::IndexError& e) {
    throw Napi::RangeError::New(env, e.what_without_backtrace());
  } catch (const c10::TypeError& e) {
    throw Napi::TypeError::New(env, e.what_without_backtrace());
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "out of memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  } catch (...) {
    throw Napi::Error::New(env, "unknown native error");
  }
}

namespace {

// ---- process-wide settings -------------------------------------------------------

// glibc serves large blocks with fresh mmap'd pages and returns them on free, so every
// training step would page-fault its activations anew. Keep freed memory in the heap; blocks
// of 1 MiB and more go to the caching allocator (allocator.cc) instead.
bool applyAllocatorPolicy() {
  bool ok = mallopt(M_MMAP_MAX, 0) == 1;
  ok = mallopt(M_TRIM_THRESHOLD, 2147483647) == 1 && ok;
  ok = mallopt(M_TOP_PAD, 64 << 20) == 1 && ok;
  return ok;
}
bool allocatorTuned = false;


Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(env, "threads must be at least 1");
  at::set_num_threads(n);
  return env.Undefined();
  SIMCLR_CATCH(env)
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  // A seed is an integer in [0, 2^53] (a Number) or [0, 2^64) (a BigInt): anything else would be
  // wrapped or truncated into another seed without a word.
  uint64_t seed = 0;
  bool ok = false;
  if (info[0].IsBigInt()) {
    seed = info[0].As<Napi::BigInt>().Uint64Value(&ok);
  } else if (info[0].IsNumber()) {
    double d = info[0].As<Napi::Number>().DoubleValue();
    ok = d >= 0 && d <= 9007199254740992.0 && d == std::trunc(d);
    if (ok) seed = static_cast<uint64_t>(d);
  }
  if (!ok) throw Napi::RangeError::New(env, "manualSeed: the seed must be an integer from 0 to 2^53 (or a BigInt below 2^64), got " + info[0].ToString().Utf8Value());
  at::manual_seed(seed);
  return env.Undefined();
  SIMCLR_CATCH(env)
}

// setAutocast(enabled, dtype): CPU autocast (bfloat16 matmuls and convolutions), as torch.autocast('cpu').
// Returns whether it was enabled before.
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  bool previous = at::autocast::is_cpu_enabled();
  bool enabled = info[0].ToBoolean();
  if (enabled && info[1].IsString()) at::autocast::set_autocast_cpu_dtype(parseDtype(info[1].As<Napi::String>().Utf8Value()));
  at::autocast::set_cpu_enabled(enabled);
  if (!enabled) at::autocast::clear_cache();
  return Napi::Boolean::New(env, previous);
  SIMCLR_CATCH(env)
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto out = Napi::Object::New(env);
  out.Set("torchVersion", TORCH_VERSION);
  out.Set("cuda", at::detail::getCUDAHooks().hasCUDA());
  out.Set("cudaDevices", at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().getNumGPUs() : 0);
  out.Set("threads", at::get_num_threads());
  out.Set("hardwareThreads", static_cast<double>(std::thread::hardware_concurrency()));
  out.Set("allocatorTuned", allocatorTuned);
  out.Set("config", at::show_config());
  out.Set("parallel", at::get_parallel_info());
  return out;
  SIMCLR_CATCH(env)
}

}  // namespace
}  // namespace simclr

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace simclr;
  // The addon's tables (live handles, storages, the op cache) belong to one JS thread: a second
  // environment (a worker_thread) is refused rather than left to race.
  static std::atomic<bool> loaded{false};
  if (loaded.exchange(true)) {
    Napi::Error::New(env, "simclr's native addon is already in use by another JS thread of this process; use it from one thread only (a child process, not a worker_thread)").ThrowAsJavaScriptException();
    return exports;
  }
  allocatorTuned = applyAllocatorPolicy();
  installCachingAllocator();
  initTensor(env, exports);
  initDispatch(env, exports);
  initAugment(env, exports);
  initAllocator(env, exports);
  initDistributed(env, exports);
  initProfiler(env, exports);
  initBatchNormRelu(env, exports);
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setAutocast", Napi::Function::New(env, SetAutocast));
  return exports;
}

NODE_API_MODULE(simclr, Init)
