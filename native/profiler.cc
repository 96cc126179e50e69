// libtorch's autograd profiler (the legacy CPU profiler: every operator the dispatcher runs, forward
// and backward, with its time) and user ranges that name phases in it. TypeScript pairs the events
// and totals them (src/profiler.ts).
#include "common.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <memory>
#include <string>
#include <unordered_map>

namespace simclr {
namespace {

namespace prof = torch::autograd::profiler;

// Open user ranges, by id (a RecordFunction ends its range when destroyed).
std::unordered_map<int64_t, std::unique_ptr<at::RecordFunction>> ranges;
int64_t nextRange = 1;

Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU));
  return env.Undefined();
  SIMCLR_CATCH(env)
}

// profilerStop(): { names: string[], kinds: string[] ('push' | 'pop' | 'mark'), threads: number[],
// times: Float64Array (µs since the first event) }, in each thread's order.
Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  ranges.clear();
  const auto lists = prof::disableProfilerLegacy();
  const prof::LegacyEvent* first = nullptr;
  size_t count = 0;
  for (const auto& list : lists) {
    count += list.size();
    for (const auto& e : list) {
      if (first == nullptr || first->cpuElapsedUs(e) < 0) first = &e;
    }
  }
  auto names = Napi::Array::New(env, count);
  auto kinds = Napi::Array::New(env, count);
  auto threads = Napi::Array::New(env, count);
  auto times = Napi::Float64Array::New(env, count);
  uint32_t i = 0;
  for (const auto& list : lists) {
    for (const auto& e : list) {
      names.Set(i, Napi::String::New(env, e.name()));
      kinds.Set(i, Napi::String::New(env, e.kindStr()));
      threads.Set(i, Napi::Number::New(env, static_cast<double>(e.threadId())));
      times[i] = first->cpuElapsedUs(e);
      ++i;
    }
  }
  auto out = Napi::Object::New(env);
  out.Set("names", names);
  out.Set("kinds", kinds);
  out.Set("threads", threads);
  out.Set("times", times);
  return out;
  SIMCLR_CATCH(env)
}

// profilerRangeStart(name) -> id; profilerRangeEnd(id). A range shows in the profile as an operator
// named `name` enclosing the operators run inside it.
Napi::Value ProfilerRangeStart(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto range = std::make_unique<at::RecordFunction>(at::RecordScope::USER_SCOPE);
  if (range->isActive()) range->before(info[0].As<Napi::String>().Utf8Value());
  const int64_t id = nextRange++;
  ranges[id] = std::move(range);
  return Napi::Number::New(env, static_cast<double>(id));
  SIMCLR_CATCH(env)
}

Napi::Value ProfilerRangeEnd(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  ranges.erase(info[0].As<Napi::Number>().Int64Value());
  return env.Undefined();
  SIMCLR_CATCH(env)
}

}  // namespace

void initProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profilerStart", Napi::Function::New(env, ProfilerStart));
  exports.Set("profilerStop", Napi::Function::New(env, ProfilerStop));
  exports.Set("profilerRangeStart", Napi::Function::New(env, ProfilerRangeStart));
  exports.Set("profilerRangeEnd", Napi::Function::New(env, ProfilerRangeEnd));
}

}  // namespace simclr
