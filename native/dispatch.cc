// The one generic path to the ATen operator set: look an operator up in the
// libtorch dispatcher, box the JS arguments according to its schema, callBoxed,
// and unbox the results. The schemas are also exported so that the TypeScript
// wrappers can be generated from the installed libtorch.
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <cmath>
#include <optional>

namespace simclr {
namespace {

enum class Kind : uint8_t {
  Tensor, TensorList, OptTensorList,
  Int, IntList, Float, FloatList, Bool, BoolList, Str, Scalar,
  ScalarType, Layout, Device, MemoryFormat, Generator,
  Unsupported,
};

struct ArgSpec {
  std::string name;
  Kind kind;
  bool optional;    // accepts null (None)
  int listLength;   // fixed list length (int[2]) or 0
  std::optional<c10::IValue> defaultValue;
};

struct Op {
  c10::OperatorHandle handle;
  std::string name;
  std::vector<ArgSpec> args;
  // For each return: the argument it writes in place (returned to JS as undefined), or -1.
  std::vector<int> writesArg;
};

std::vector<Op> ops;

// Classifies an argument by its schema type as the schema prints it (e.g. "Tensor?", "SymInt[]").
std::pair<Kind, bool> classify(std::string type) {
  bool optional = !type.empty() && type.back() == '?';
  if (optional) type.pop_back();
  static const std::unordered_map<std::string, Kind> kinds = {
      {"Tensor", Kind::Tensor}, {"Tensor[]", Kind::TensorList}, {"Tensor?[]", Kind::OptTensorList},
      {"int", Kind::Int}, {"SymInt", Kind::Int}, {"int[]", Kind::IntList}, {"SymInt[]", Kind::IntList},
      {"float", Kind::Float}, {"float[]", Kind::FloatList}, {"bool", Kind::Bool}, {"bool[]", Kind::BoolList},
      {"str", Kind::Str}, {"Scalar", Kind::Scalar}, {"ScalarType", Kind::ScalarType}, {"Layout", Kind::Layout},
      {"Device", Kind::Device}, {"MemoryFormat", Kind::MemoryFormat}, {"Generator", Kind::Generator},
  };
  auto it = kinds.find(type);
  return {it == kinds.end() ? Kind::Unsupported : it->second, optional};
}

std::string opName(const c10::OperatorName& name) {
  std::string base = name.name;
  if (base.rfind("aten::", 0) == 0) base = base.substr(6);
  return name.overload_name.empty() ? base : base + "." + name.overload_name;
}

// The argument a result writes in place and returns (self for add_, out for the _out variants), or -1.
int writtenArg(const c10::FunctionSchema& schema, size_t result) {
  const auto* alias = schema.returns()[result].alias_info();
  if (!alias || !alias->isWrite()) return -1;
  for (size_t i = 0; i < schema.arguments().size(); ++i) {
    const auto* argAlias = schema.arguments()[i].alias_info();
    if (argAlias && argAlias->isWrite() && argAlias->beforeSets() == alias->beforeSets()) return static_cast<int>(i);
  }
  return -1;
}

int lookup(const std::string& qualified, const std::string& overload) {
  auto handle = c10::Dispatcher::singleton().findSchema({"aten::" + qualified, overload});
  if (!handle) return -1;
  const auto& schema = handle->schema();
  Op op{*handle, opName(schema.operator_name()), {}, {}};
  for (const auto& arg : schema.arguments()) {
    auto [kind, optional] = classify(arg.real_type()->str());
    op.args.push_back({arg.name(), kind, optional, arg.N() ? static_cast<int>(*arg.N()) : 0,
                       arg.default_value() ? std::optional<c10::IValue>(*arg.default_value()) : std::nullopt});
  }
  for (size_t i = 0; i < schema.returns().size(); ++i) op.writesArg.push_back(writtenArg(schema, i));
  ops.push_back(std::move(op));
  return static_cast<int>(ops.size() - 1);
}

// ---- boxing JS values ---------------------------------------------------------

[[noreturn]] void badArg(const Op& op, const ArgSpec& arg, const std::string& expected) {
  throw c10::TypeError({__func__, __FILE__, static_cast<uint32_t>(__LINE__)},
                       op.name + ": argument '" + arg.name + "' must be " + expected);
}

int64_t toInt(const Op& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) <= 9007199254740992.0) return static_cast<int64_t>(d);
  } else if (v.IsBigInt()) {
    bool lossless = false;
    int64_t i = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (lossless) return i;
  }
  badArg(op, arg, "an integer");
}

double toFloat(const Op& op, const ArgSpec& arg, const Napi::Value& v) {
  if (!v.IsNumber()) badArg(op, arg, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool toBool(const Op& op, const ArgSpec& arg, const Napi::Value& v) {
  if (!v.IsBoolean()) badArg(op, arg, "a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string toStr(const Op& op, const ArgSpec& arg, const Napi::Value& v) {
  if (!v.IsString()) badArg(op, arg, "a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Array toJsArray(const Op& op, const ArgSpec& arg, const Napi::Value& v, const char* expected) {
  if (!v.IsArray()) badArg(op, arg, expected);
  return v.As<Napi::Array>();
}

c10::IValue box(Napi::Env env, const Op& op, const ArgSpec& arg, const Napi::Value& v) {
  if (v.IsUndefined() && arg.defaultValue) return *arg.defaultValue;
  if (v.IsNull() || v.IsUndefined()) {
    if (arg.optional) return c10::IValue();
    badArg(op, arg, v.IsNull() ? "given (null is not allowed)" : "given");
  }
  switch (arg.kind) {
    case Kind::Tensor:
      if (!isHandle(env, v)) badArg(op, arg, "a tensor");
      return unwrap(env, v, arg.name.c_str());
    case Kind::TensorList: {
      auto a = toJsArray(op, arg, v, "an array of tensors");
      c10::List<at::Tensor> list;
      list.reserve(a.Length());
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value item = a.Get(i);
        if (!isHandle(env, item)) badArg(op, arg, "an array of tensors");
        list.push_back(unwrap(env, item, arg.name.c_str()));
      }
      return list;
    }
    case Kind::OptTensorList: {
      auto a = toJsArray(op, arg, v, "an array of tensors or nulls");
      c10::List<c10::optional<at::Tensor>> list;
      list.reserve(a.Length());
      for (uint32_t i = 0; i < a.Length(); ++i) {
        Napi::Value item = a.Get(i);
        if (item.IsNull() || item.IsUndefined()) list.push_back(c10::nullopt);
        else if (isHandle(env, item)) list.push_back(unwrap(env, item, arg.name.c_str()));
        else badArg(op, arg, "an array of tensors or nulls");
      }
      return list;
    }
    case Kind::Int: return toInt(op, arg, v);
    case Kind::IntList: {
      // A single integer fills a fixed-length list, as in PyTorch (kernel_size=3 means [3, 3]).
      if (!v.IsArray() && arg.listLength > 0) return std::vector<int64_t>(arg.listLength, toInt(op, arg, v));
      auto a = toJsArray(op, arg, v, "an array of integers");
      std::vector<int64_t> list(a.Length());
      for (uint32_t i = 0; i < a.Length(); ++i) list[i] = toInt(op, arg, a.Get(i));
      return list;
    }
    case Kind::Float: return toFloat(op, arg, v);
    case Kind::FloatList: {
      auto a = toJsArray(op, arg, v, "an array of numbers");
      std::vector<double> list(a.Length());
      for (uint32_t i = 0; i < a.Length(); ++i) list[i] = toFloat(op, arg, a.Get(i));
      return list;
    }
    case Kind::Bool: return toBool(op, arg, v);
    case Kind::BoolList: {
      auto a = toJsArray(op, arg, v, "an array of booleans");
      c10::List<bool> list;
      for (uint32_t i = 0; i < a.Length(); ++i) list.push_back(toBool(op, arg, a.Get(i)));
      return list;
    }
    case Kind::Str: return toStr(op, arg, v);
    case Kind::Scalar:
      if (v.IsBoolean()) return v.As<Napi::Boolean>().Value();
      if (v.IsBigInt()) return toInt(op, arg, v);
      if (v.IsNumber()) return toScalar(v, arg.name.c_str());
      badArg(op, arg, "a number or a boolean");
    case Kind::ScalarType: return static_cast<int64_t>(parseDtype(toStr(op, arg, v)));
    case Kind::Layout:
      if (toStr(op, arg, v) != "strided") badArg(op, arg, "'strided'");
      return static_cast<int64_t>(at::kStrided);
    case Kind::Device: return parseDevice(toStr(op, arg, v));
    case Kind::MemoryFormat: return static_cast<int64_t>(parseMemoryFormat(toStr(op, arg, v)));
    case Kind::Generator: badArg(op, arg, "null (the default generator, seeded by manualSeed)");
    case Kind::Unsupported: break;
  }
  badArg(op, arg, "of a type this binding does not support");
}

// ---- unboxing results -----------------------------------------------------------

Napi::Value unbox(Napi::Env env, c10::IValue&& v) {
  if (v.isTensor()) return wrap(env, std::move(v).toTensor());
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isDevice()) return Napi::String::New(env, v.toDevice().str());
  if (v.isTuple()) {
    auto elements = v.toTupleRef().elements();
    auto out = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); ++i) out.Set(i, unbox(env, c10::IValue(elements[i])));
    return out;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    auto out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(i, unbox(env, c10::IValue(list[i])));
    return out;
  }
  throw Napi::TypeError::New(env, std::string("cannot convert a result of type ") + v.tagKind());
}

// call(opId, ...args): runs one operator; a result that writes an argument in place comes back undefined.
Napi::Value Call(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  uint32_t id = info[0].As<Napi::Number>().Uint32Value();
  if (id >= ops.size()) throw Napi::RangeError::New(env, "unknown operator id");
  const Op& op = ops[id];
  size_t given = info.Length() - 1;
  if (given > op.args.size())
    throw Napi::TypeError::New(env, op.name + " takes " + std::to_string(op.args.size()) + " arguments, got " +
                                        std::to_string(given));
  torch::jit::Stack stack;
  stack.reserve(op.args.size());
  for (size_t i = 0; i < op.args.size(); ++i)
    stack.push_back(box(env, op, op.args[i], i < given ? info[i + 1] : env.Undefined()));
  op.handle.callBoxed(stack);
  if (stack.size() == 1) {
    return op.writesArg[0] >= 0 ? env.Undefined() : unbox(env, std::move(stack[0]));
  }
  auto out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); ++i) out.Set(i, unbox(env, std::move(stack[i])));
  return out;
  SIMCLR_CATCH(env)
}

// resolve(names): operator ids for "name" / "name.overload" strings, -1 where this libtorch lacks one.
Napi::Value Resolve(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto names = info[0].As<Napi::Array>();
  auto out = Napi::Int32Array::New(env, names.Length());
  for (uint32_t i = 0; i < names.Length(); ++i) {
    std::string name = names.Get(i).As<Napi::String>().Utf8Value();
    auto dot = name.find('.');
    out[i] = dot == std::string::npos ? lookup(name, "") : lookup(name.substr(0, dot), name.substr(dot + 1));
  }
  return out;
  SIMCLR_CATCH(env)
}

// schemas(): every aten operator with its arguments and returns, for the wrapper generator.
Napi::Value Schemas(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto& dispatcher = c10::Dispatcher::singleton();
  auto out = Napi::Array::New(env);
  uint32_t n = 0;
  for (const auto& name : dispatcher.getAllOpNames()) {
    if (name.name.rfind("aten::", 0) != 0) continue;
    auto handle = dispatcher.findSchema(name);
    if (!handle) continue;
    const auto& schema = handle->schema();
    auto entry = Napi::Object::New(env);
    entry.Set("name", name.name.substr(6));
    entry.Set("overload", name.overload_name);
    entry.Set("schema", c10::toString(schema));
    auto args = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& arg : schema.arguments()) {
      auto a = Napi::Object::New(env);
      a.Set("name", arg.name());
      a.Set("type", arg.real_type()->str());
      if (arg.N()) a.Set("length", Napi::Number::New(env, *arg.N()));
      a.Set("hasDefault", arg.default_value().has_value());
      a.Set("kwargOnly", arg.kwarg_only());
      a.Set("write", arg.alias_info() != nullptr && arg.alias_info()->isWrite());
      args.Set(i++, a);
    }
    entry.Set("args", args);
    auto returns = Napi::Array::New(env);
    i = 0;
    for (const auto& ret : schema.returns()) {
      auto r = Napi::Object::New(env);
      r.Set("type", ret.real_type()->str());
      r.Set("writes", writtenArg(schema, i));
      returns.Set(i++, r);
    }
    entry.Set("returns", returns);
    out.Set(n++, entry);
  }
  return out;
  SIMCLR_CATCH(env)
}

}  // namespace

void initDispatch(Napi::Env env, Napi::Object exports) {
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("resolve", Napi::Function::New(env, Resolve));
  exports.Set("schemas", Napi::Function::New(env, Schemas));
}

}  // namespace simclr
