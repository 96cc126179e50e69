// Tensor handles: creation from and copy to TypedArrays, metadata, ownership and
// memory accounting, autograd entry points.
#include "common.h"

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/variable.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <unordered_map>

namespace simclr {
namespace {

// Marks the Externals this addon created, so a foreign External is rejected instead of crashing.
const napi_type_tag kHandleTag = {0x5a1c7c0fe1e24b53ULL, 0x9d3b2e61a4f0c877ULL};

// Bytes are counted once per storage, however many handles (views) share it.
struct StorageUse {
  int64_t handles = 0;
  int64_t bytes = 0;
};
std::unordered_map<const c10::StorageImpl*, StorageUse> storages;
int64_t liveHandles = 0;
int64_t liveBytes = 0;

const c10::StorageImpl* storageOf(const at::Tensor& t) {
  return t.has_storage() ? t.storage().unsafeGetStorageImpl() : nullptr;
}

void account(const at::Tensor& t) {
  ++liveHandles;
  const auto* impl = storageOf(t);
  if (!impl) return;
  auto& use = storages[impl];
  if (use.handles++ == 0) {
    use.bytes = static_cast<int64_t>(impl->nbytes());
    liveBytes += use.bytes;
  }
}

// (A BasicEnv: this also runs as the finalizer, inside a garbage collection.)
void release(Napi::BasicEnv env, Handle* handle) {
  if (!handle->tensor.defined()) return;
  --liveHandles;
  const auto* impl = storageOf(handle->tensor);
  if (impl) {
    auto it = storages.find(impl);
    if (it != storages.end() && --it->second.handles == 0) {
      liveBytes -= it->second.bytes;
      storages.erase(it);
    }
  }
  if (handle->reportedBytes) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -handle->reportedBytes);
    handle->reportedBytes = 0;
  }
  handle->tensor.reset();
}

Handle* handleOf(Napi::Env env, const Napi::Value& value) {
  if (value.Type() != napi_external) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, value, &kHandleTag, &tagged) != napi_ok || !tagged) return nullptr;
  return value.As<Napi::External<Handle>>().Data();
}

Napi::Array toArray(Napi::Env env, at::IntArrayRef values) {
  auto out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) out.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return out;
}

std::vector<int64_t> shapeFrom(const Napi::Value& value) {
  if (!value.IsArray()) throw Napi::TypeError::New(value.Env(), "shape must be an array of integers");
  auto array = value.As<Napi::Array>();
  std::vector<int64_t> shape(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    // (range first: casting a double at or past 2^63 to int64 is undefined behaviour)
    if (!(d >= 0 && d <= 9007199254740992.0) || d != std::trunc(d))
      throw Napi::TypeError::New(value.Env(), "shape must hold non-negative integers (at most 2^53)");
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

// ---- creation and copies --------------------------------------------------

size_t elementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: case napi_uint8_array: case napi_uint8_clamped_array: return 1;
    case napi_int16_array: case napi_uint16_array: return 2;
    case napi_int32_array: case napi_uint32_array: case napi_float32_array: return 4;
    default: return 8;
  }
}

// fromArray(typedArray, shape, dtype): copies the array's elements (or raw bytes) into a new CPU tensor.
Napi::Value FromArray(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromArray expects a TypedArray");
  auto array = info[0].As<Napi::TypedArray>();
  auto shape = shapeFrom(info[1]);
  auto dtype = parseDtype(info[2].As<Napi::String>().Utf8Value());
  size_t itemBytes = at::elementSize(dtype);
  // The strides are products of the sizes (zeros left out): they, and the byte count, must fit in int64.
  int64_t span = 1;
  for (auto s : shape)
    if (s > 0 && (__builtin_mul_overflow(span, s, &span) || span > INT64_MAX / static_cast<int64_t>(itemBytes)))
      throw Napi::RangeError::New(env, "fromArray: the shape holds more elements than a tensor can");
  int64_t numel = 1;
  for (auto s : shape) numel *= s;
  // A Uint8Array may carry the raw bytes of any dtype (as read from a file).
  bool rawBytes = array.TypedArrayType() == napi_uint8_array;
  if (!rawBytes && itemBytes != elementSize(array.TypedArrayType()))
    throw Napi::TypeError::New(env, std::string("a ") + dtypeName(dtype) + " tensor needs a TypedArray of " +
                                        std::to_string(itemBytes) + "-byte elements");
  if (static_cast<int64_t>(array.ByteLength()) != numel * static_cast<int64_t>(itemBytes))
    throw Napi::RangeError::New(env, "the array holds " + std::to_string(array.ByteLength()) +
                                         " bytes but the shape needs " + std::to_string(numel * itemBytes));
  auto tensor = at::empty(shape, at::TensorOptions().dtype(dtype));
  if (numel > 0) {
    auto* base = static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    std::memcpy(tensor.data_ptr(), base, numel * itemBytes);
  }
  return wrap(env, std::move(tensor));
  SIMCLR_CATCH(env)
}

// The TypedArray type that holds a dtype's elements (bits, for the 16-bit floats).
napi_typedarray_type arrayTypeOf(Napi::Env env, at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return napi_float32_array;
    case at::kDouble: return napi_float64_array;
    case at::kLong: return napi_bigint64_array;
    case at::kInt: return napi_int32_array;
    case at::kShort: return napi_int16_array;
    case at::kChar: return napi_int8_array;
    case at::kByte: case at::kBool: return napi_uint8_array;
    case at::kBFloat16: case at::kHalf: return napi_uint16_array;
    default: throw Napi::TypeError::New(env, std::string("no TypedArray for dtype ") + dtypeName(dtype));
  }
}

// toArray(handle[, into]): the elements in row-major order, copied into a new TypedArray, or into
// `into` (of the same type and length): a reused buffer spares a fresh, zeroed allocation per call.
Napi::Value ToArray(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  const auto& source = unwrap(env, info[0], "tensor");
  auto type = arrayTypeOf(env, source.scalar_type());
  size_t n = source.numel();
  Napi::TypedArray out;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != type)
      throw Napi::TypeError::New(env, std::string("toArray: a ") + dtypeName(source.scalar_type()) +
                                          " tensor copies into the TypedArray toArray() would make for it");
    out = info[1].As<Napi::TypedArray>();
    if (out.ElementLength() != n)
      throw Napi::RangeError::New(env, "toArray: the array holds " + std::to_string(out.ElementLength()) +
                                           " elements but the tensor " + std::to_string(n));
  } else {
    auto buffer = Napi::ArrayBuffer::New(env, n * source.element_size());
    napi_value array;
    NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, type, n, buffer, 0, &array), Napi::Value());
    out = Napi::TypedArray(env, array);
  }
  if (n) {
    auto* base = static_cast<uint8_t*>(out.ArrayBuffer().Data()) + out.ByteOffset();
    at::from_blob(base, source.sizes(), at::TensorOptions().dtype(source.scalar_type())).copy_(source.detach());
  }
  return out;
  SIMCLR_CATCH(env)
}

// ---- metadata and ownership -------------------------------------------------

Napi::Value Shape(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return toArray(env, unwrap(env, info[0], "tensor").sizes());
  SIMCLR_CATCH(env)
}

Napi::Value Strides(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return toArray(env, unwrap(env, info[0], "tensor").strides());
  SIMCLR_CATCH(env)
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return Napi::String::New(env, dtypeName(unwrap(env, info[0], "tensor").scalar_type()));
  SIMCLR_CATCH(env)
}

Napi::Value DeviceOf(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return Napi::String::New(env, unwrap(env, info[0], "tensor").device().str());
  SIMCLR_CATCH(env)
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  Handle* handle = handleOf(env, info[0]);
  if (!handle) throw Napi::TypeError::New(env, "dispose expects a tensor handle");
  release(env, handle);
  return env.Undefined();
}

Napi::Value IsDisposed(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  Handle* handle = handleOf(env, info[0]);
  if (!handle) throw Napi::TypeError::New(env, "isDisposed expects a tensor handle");
  return Napi::Boolean::New(env, !handle->tensor.defined());
}

// reportToGc(handle): the GC now decides this tensor's lifetime; tell V8 how much native memory it holds.
Napi::Value ReportToGc(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  Handle* handle = handleOf(env, info[0]);
  if (!handle) throw Napi::TypeError::New(env, "reportToGc expects a tensor handle");
  if (handle->tensor.defined() && handle->reportedBytes == 0) {
    const auto* impl = storageOf(handle->tensor);
    handle->reportedBytes = impl ? static_cast<int64_t>(impl->nbytes()) : 0;
    if (handle->reportedBytes) Napi::MemoryManagement::AdjustExternalMemory(env, handle->reportedBytes);
  }
  return env.Undefined();
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto out = Napi::Object::New(env);
  out.Set("tensors", Napi::Number::New(env, static_cast<double>(liveHandles)));
  out.Set("bytes", Napi::Number::New(env, static_cast<double>(liveBytes)));
  return out;
}

// ---- autograd -----------------------------------------------------------------

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return Napi::Boolean::New(env, unwrap(env, info[0], "tensor").requires_grad());
  SIMCLR_CATCH(env)
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  unwrap(env, info[0], "tensor").set_requires_grad(info[1].ToBoolean());
  return env.Undefined();
  SIMCLR_CATCH(env)
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return Napi::Boolean::New(env, unwrap(env, info[0], "tensor").is_leaf());
  SIMCLR_CATCH(env)
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  return wrap(env, unwrap(env, info[0], "tensor").grad());
  SIMCLR_CATCH(env)
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto& t = unwrap(env, info[0], "tensor");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad().reset();
  } else {
    auto& g = unwrap(env, info[1], "grad");
    if (!g.sizes().equals(t.sizes()) || g.scalar_type() != t.scalar_type())
      throw Napi::TypeError::New(env, "the gradient must have the tensor's shape and dtype");
    t.mutable_grad() = g;
  }
  return env.Undefined();
  SIMCLR_CATCH(env)
}

std::vector<at::Tensor> tensorsFrom(Napi::Env env, const Napi::Value& value, const char* what, bool allowNull) {
  if (!value.IsArray()) throw Napi::TypeError::New(env, std::string(what) + " must be an array of tensors");
  auto array = value.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value v = array.Get(i);
    if (allowNull && (v.IsNull() || v.IsUndefined())) out.emplace_back();
    else out.push_back(unwrap(env, v, what));
  }
  return out;
}

// backward(outputs, gradOutputs, retainGraph, createGraph): accumulates into the leaves' .grad.
Napi::Value Backward(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto outputs = tensorsFrom(env, info[0], "outputs", false);
  auto grads = tensorsFrom(env, info[1], "gradients", true);
  bool retain = info[2].ToBoolean();
  bool create = info[3].ToBoolean();
  torch::autograd::backward(outputs, grads, retain, create);
  return env.Undefined();
  SIMCLR_CATCH(env)
}

// grad(outputs, inputs, gradOutputs, retainGraph, createGraph, allowUnused): gradients returned, not accumulated.
Napi::Value Gradients(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto outputs = tensorsFrom(env, info[0], "outputs", false);
  auto inputs = tensorsFrom(env, info[1], "inputs", false);
  auto grads = tensorsFrom(env, info[2], "gradients", true);
  auto result = torch::autograd::grad(outputs, inputs, grads, info[3].ToBoolean(), info[4].ToBoolean(),
                                      info[5].ToBoolean());
  auto out = Napi::Array::New(env, result.size());
  for (size_t i = 0; i < result.size(); ++i) out.Set(i, wrap(env, result[i]));
  return out;
  SIMCLR_CATCH(env)
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  bool previous = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean());
  return Napi::Boolean::New(env, previous);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

}  // namespace

// ---- shared helpers -------------------------------------------------------------

Napi::Value wrap(Napi::Env env, at::Tensor tensor) {
  if (!tensor.defined()) return env.Null();
  auto* handle = new Handle{std::move(tensor)};
  account(handle->tensor);
  auto external = Napi::External<Handle>::New(env, handle, [](Napi::BasicEnv env, Handle* h) {
    release(env, h);
    delete h;
  });
  napi_type_tag_object(env, external, &kHandleTag);
  return external;
}

bool isHandle(Napi::Env env, const Napi::Value& value) { return handleOf(env, value) != nullptr; }

at::Tensor& unwrap(Napi::Env env, const Napi::Value& value, const char* what) {
  Handle* handle = handleOf(env, value);
  if (!handle) throw Napi::TypeError::New(env, std::string(what) + " must be a tensor");
  if (!handle->tensor.defined())
    throw Napi::Error::New(env, std::string(what) + ": the tensor was disposed and can no longer be used");
  return handle->tensor;
}

void initTensor(Napi::Env env, Napi::Object exports) {
  exports.Set("fromArray", Napi::Function::New(env, FromArray));
  exports.Set("toArray", Napi::Function::New(env, ToArray));
  exports.Set("shape", Napi::Function::New(env, Shape));
  exports.Set("strides", Napi::Function::New(env, Strides));
  exports.Set("dtype", Napi::Function::New(env, Dtype));
  exports.Set("device", Napi::Function::New(env, DeviceOf));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("isDisposed", Napi::Function::New(env, IsDisposed));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("reportToGc", Napi::Function::New(env, ReportToGc));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("gradients", Napi::Function::New(env, Gradients));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
}

}  // namespace simclr
