// Shared pieces of the addon: tensor handles, conversions and error translation.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>

namespace simclr {

// A JS-owned reference to one at::Tensor. JS holds it as an External; dispose()
// drops the tensor at once, the finalizer is only a safety net.
struct Handle {
  at::Tensor tensor;
  // Bytes reported to V8 for this handle: only tensors whose lifetime the GC decides
  // (outside any tidy scope) are reported, so scoped training steps trigger no collections.
  int64_t reportedBytes = 0;
};

// Wraps a tensor in a new handle (null for an undefined tensor) and accounts its storage.
Napi::Value wrap(Napi::Env env, at::Tensor tensor);
// The tensor behind a handle; throws a JS TypeError for anything else and for a disposed handle.
at::Tensor& unwrap(Napi::Env env, const Napi::Value& value, const char* what);
bool isHandle(Napi::Env env, const Napi::Value& value);

at::ScalarType parseDtype(const std::string& name);
const char* dtypeName(at::ScalarType type);
at::Device parseDevice(const std::string& name);
at::MemoryFormat parseMemoryFormat(const std::string& name);
at::Scalar toScalar(const Napi::Value& value, const char* what);

void initTensor(Napi::Env env, Napi::Object exports);
void initDispatch(Napi::Env env, Napi::Object exports);
void initAugment(Napi::Env env, Napi::Object exports);
void initAllocator(Napi::Env env, Napi::Object exports);
void initDistributed(Napi::Env env, Napi::Object exports);
void initProfiler(Napi::Env env, Napi::Object exports);
void initBatchNormRelu(Napi::Env env, Napi::Object exports);
void installCachingAllocator();

// Converts C++ exceptions (c10::Error and friends) into JS exceptions without the backtrace.
[[noreturn]] void rethrowAsJs(Napi::Env env);

}  // namespace simclr

// Body of every exported function: any C++ exception becomes a JS exception.
#define SIMCLR_TRY try {
#define SIMCLR_CATCH(env) \
  } catch (const Napi::Error&) { throw; } catch (...) { ::simclr::rethrowAsJs(env); }
