// Data parallelism on libtorch's c10d: a TCPStore rendezvous, a gloo process group, the
// collectives the trainer needs (in place, on one tensor), autograd-aware all-reduce and
// all-gather, and a heartbeat watchdog that names a lost worker instead of hanging. Small
// all-gathers (global BN's statistics, two per BN layer and step) go through a gloo context of
// their own instead of the process group: see Group::direct.
#include "common.h"

// Every libtorch this builds against (Debian's, pytorch.org's) has gloo; its header asks for this.
#define USE_C10D_GLOO 1

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <gloo/allgather_ring.h>
#include <gloo/rendezvous/context.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace simclr {
namespace {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

struct Group {
  int rank = 0;
  int size = 1;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  // Latency is all a small collective costs, and ProcessGroupGloo adds most of it: each call hops
  // from the caller to the group's worker thread, and every message from gloo's event-loop thread
  // to the waiting one. This context's pairs are in gloo's synchronous mode instead: the calling
  // thread writes and reads their sockets itself, and a small all-gather takes one round trip.
  // Only for messages that fit the sockets' buffers (a synchronous pair reads only while it waits,
  // so two workers writing large messages to each other would both block): see kSmallGatherBytes.
  std::shared_ptr<gloo::rendezvous::Context> direct;
  // Watchdog: every worker bumps its counter in the store; a counter that stops moving, or a store
  // that stops answering (it lives in rank 0), marks that rank lost.
  c10::intrusive_ptr<c10d::Store> beatStore;
  std::thread watchdog;
  std::atomic<bool> stopping{false};
  std::atomic<int> lost{-1};
  std::mutex reasonMutex;
  std::string reason;
  // Time spent inside collectives, for the benchmarks' communication share.
  std::atomic<int64_t> commNanos{0};
  std::atomic<int64_t> collectives{0};
  // How long the watchdog takes at most to call a silent worker lost.
  Millis detection{0};

  ~Group() {
    // Reached from distDestroy (the watchdog joined), or from the watchdog itself when it drops the
    // last reference (it owns one).
    stopping = true;
    if (watchdog.joinable()) watchdog.detach();
  }

  // From the main thread (distDestroy, exit): the watchdog ends within one 50 ms nap.
  void stopWatchdog() {
    stopping = true;
    if (watchdog.joinable()) watchdog.join();
  }

  void markLost(int r, const std::string& why) {
    int none = -1;
    if (lost.compare_exchange_strong(none, r)) {
      std::lock_guard<std::mutex> lock(reasonMutex);
      reason = why;
    }
  }
  std::string lostMessage() {
    std::lock_guard<std::mutex> lock(reasonMutex);
    return "worker rank " + std::to_string(lost.load()) + " was lost (" + reason + ")";
  }
};

std::mutex registryMutex;
std::map<int64_t, std::shared_ptr<Group>> groups;
int64_t nextGroup = 1;

std::shared_ptr<Group> groupById(int64_t id) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = groups.find(id);
  TORCH_CHECK(it != groups.end(), "process group ", id, " does not exist (destroyed?)");
  return it->second;
}

constexpr char kBeat[] = "simclr/heartbeat/";

// The watchdog shares ownership of its group: a group dropped without distDestroy stays alive while it runs.
void watch(std::shared_ptr<Group> g, Millis interval, Millis stale, Millis grace) {
  std::vector<int64_t> last(g->size, -1);
  std::vector<Clock::time_point> changed(g->size, Clock::now());
  Clock::time_point lostAt{};
  while (!g->stopping.load()) {
    try {
      g->beatStore->add(std::string(kBeat) + std::to_string(g->rank), 1);
      const auto now = Clock::now();
      for (int r = 0; r < g->size; ++r) {
        if (r == g->rank) continue;
        int64_t v = g->beatStore->add(std::string(kBeat) + std::to_string(r), 0);
        if (v != last[r]) {
          last[r] = v;
          changed[r] = now;
        } else if (now - changed[r] > stale) {
          g->markLost(r, "no heartbeat for " + std::to_string(stale.count() / 1000) + " s");
        }
      }
    } catch (const std::exception& e) {
      if (!g->stopping.load()) g->markLost(0, "the rendezvous store it hosts stopped answering");
    }
    if (g->lost.load() >= 0 && !g->stopping.load()) {
      if (lostAt == Clock::time_point{}) lostAt = Clock::now();
      // The main thread normally reports this itself when its next collective fails; a worker
      // blocked in a collective that never fails is ended here.
      if (Clock::now() - lostAt > grace) {
        std::fprintf(stderr, "simclr: rank %d: %s; exiting\n", g->rank, g->lostMessage().c_str());
        std::fflush(stderr);
        std::_Exit(1);
      }
    }
    for (auto slept = Millis(0); slept < interval && !g->stopping.load(); slept += Millis(50)) std::this_thread::sleep_for(Millis(50));
  }
}

// A process that exits with a group alive (no distDestroy) must not run static destructors under a
// running watchdog: exit() calls this first (registered after the registry exists, so it runs
// before the registry and every other static of the addon is destroyed).
void stopWatchdogsAtExit() {
  std::lock_guard<std::mutex> lock(registryMutex);
  for (auto& entry : groups) entry.second->stopWatchdog();
}

// Runs one collective to its end. A failure is reported with the lost rank when the watchdog
// finds one in time (a dead peer usually shows first as a closed connection).
void run(Group& g, const std::function<void()>& collective) {
  const auto t0 = Clock::now();
  try {
    collective();
  } catch (const std::exception& e) {
    const auto deadline = Clock::now() + g.detection;
    while (Clock::now() < deadline && g.lost.load() < 0) std::this_thread::sleep_for(Millis(50));
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    if (g.lost.load() >= 0) throw std::runtime_error(g.lostMessage() + ": " + what);
    throw std::runtime_error("collective failed on rank " + std::to_string(g.rank) + ": " + what);
  }
  g.commNanos += std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  g.collectives += 1;
}

void allReduceSum(Group& g, at::Tensor& t) {
  std::vector<at::Tensor> ts{t};
  run(g, [&] { g.pg->allreduce(ts)->wait(); });
}

// Gathered bytes up to which an all-gather takes the direct context (global BN's statistics; z's
// gather and the gradients are larger), and AllGatherFn's backward gathers the gradients instead of
// all-reducing them. Well within a socket's default buffers.
constexpr int64_t kSmallGatherBytes = 64 << 10;

bool smallGather(const Group& g, const at::Tensor& t) { return t.numel() * t.element_size() * g.size <= kSmallGatherBytes; }

at::Tensor allGather(Group& g, const at::Tensor& t) {
  TORCH_CHECK(t.dim() >= 1, "allGather: the tensor needs a dimension to gather along (got a scalar)");
  const auto input = t.contiguous();
  const int64_t bytes = input.numel() * input.element_size();
  if (g.direct != nullptr && smallGather(g, input)) {
    auto sizes = input.sizes().vec();
    sizes[0] *= g.size;
    auto output = at::empty(sizes, input.options());
    run(g, [&] {
      gloo::AllgatherRing<uint8_t> ring(g.direct, {static_cast<const uint8_t*>(input.data_ptr())}, static_cast<uint8_t*>(output.data_ptr()), static_cast<int>(bytes));
      ring.run();
    });
    return output;
  }
  std::vector<at::Tensor> inputs{input};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int r = 0; r < g.size; ++r) output[0].push_back(at::empty_like(input));
  run(g, [&] { g.pg->allgather(output, inputs)->wait(); });
  return at::cat(output[0], 0);
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = Σ over workers of x. The objective is the sum of every worker's loss, so the gradient of x
// is the sum of every worker's gradient of y.
struct AllReduceSumFn : public torch::autograd::Function<AllReduceSumFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t id) {
    ctx->saved_data["group"] = id;
    auto y = x.contiguous().clone();
    allReduceSum(*groupById(id), y);
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto g = grads[0].contiguous().clone();
    allReduceSum(*groupById(ctx->saved_data["group"].toInt()), g);
    return {g, at::Tensor()};
  }
};

// y = the workers' x concatenated along dim 0 (rank order). Backward: the sum over workers of
// their gradient of y, sliced at this worker's rows (the paper's cross-replica concatenation).
struct AllGatherFn : public torch::autograd::Function<AllGatherFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t id) {
    ctx->saved_data["group"] = id;
    ctx->saved_data["rows"] = x.size(0);
    return allGather(*groupById(id), x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto group = groupById(ctx->saved_data["group"].toInt());
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto g = grads[0].contiguous();
    if (smallGather(*group, g)) {
      // Small (global BN's statistics): every worker's gradient gathered and summed here, in rank
      // order on every worker — one exchange, where gloo's ring all-reduce takes two in sequence,
      // and latency is what a small collective costs.
      return {allGather(*group, g.unsqueeze(0)).narrow(1, group->rank * rows, rows).sum(0), at::Tensor()};
    }
    g = g.clone();
    allReduceSum(*group, g);
    return {g.narrow(0, group->rank * rows, rows).clone(), at::Tensor()};
  }
};

int64_t idOf(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }

// distInit({ host, port, rank, size, bind, timeoutMs, heartbeatMs, staleMs }) -> group id.
// Blocks until every worker has joined (or the timeout passes).
Napi::Value DistInit(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto o = info[0].As<Napi::Object>();
  const std::string host = o.Get("host").As<Napi::String>().Utf8Value();
  const int port = o.Get("port").As<Napi::Number>().Int32Value();
  const int rank = o.Get("rank").As<Napi::Number>().Int32Value();
  const int size = o.Get("size").As<Napi::Number>().Int32Value();
  const std::string bind = o.Get("bind").As<Napi::String>().Utf8Value();
  const Millis timeout(o.Get("timeoutMs").As<Napi::Number>().Int64Value());
  const Millis interval(o.Get("heartbeatMs").As<Napi::Number>().Int64Value());
  const Millis stale(o.Get("staleMs").As<Napi::Number>().Int64Value());
  TORCH_CHECK(size >= 1 && rank >= 0 && rank < size, "rank ", rank, " is not in a world of ", size);
  TORCH_CHECK(port > 0 && port < 65536, "port ", port, " is not a TCP port");
  auto g = std::make_shared<Group>();
  g->rank = rank;
  g->size = size;
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(port);
  so.isServer = rank == 0;
  so.numWorkers = size;
  so.waitWorkers = true;
  so.timeout = timeout;
  g->store = c10::make_intrusive<c10d::TCPStore>(host, so);
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  options->devices.push_back(!bind.empty()  ? c10d::ProcessGroupGloo::createDeviceForHostname(bind)
                             : ifname != nullptr ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
  g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, rank, size, options);
  if (size > 1) {
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("simclr/direct", g->store);
    c10d::ProcessGroupGloo::GlooStore directStore(prefixed);
    g->direct = std::make_shared<gloo::rendezvous::Context>(rank, size);
    g->direct->setTimeout(timeout);
    g->direct->connectFullMesh(directStore, options->devices[0]);
    for (int r = 0; r < size; ++r) {
      if (r != rank) g->direct->getPair(r)->setSync(true, false);
    }
    c10d::TCPStoreOptions client;
    client.port = so.port;
    client.timeout = stale;
    g->beatStore = c10::make_intrusive<c10d::TCPStore>(host, client);
    g->detection = stale + 3 * interval + Millis(1000);
    static const bool stopsAtExit = std::atexit(stopWatchdogsAtExit) == 0;
    TORCH_CHECK(stopsAtExit, "cannot register the watchdogs' stop at exit");
    g->watchdog = std::thread(watch, g, interval, stale, stale);
  }
  std::lock_guard<std::mutex> lock(registryMutex);
  const int64_t id = nextGroup++;
  groups[id] = g;
  return Napi::Number::New(env, static_cast<double>(id));
  SIMCLR_CATCH(env)
}

// distDestroy(id): a barrier, the watchdog stopped everywhere, a second barrier, then the group
// released (so that no worker sees rank 0's store close as a lost worker).
Napi::Value DistDestroy(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  const bool orderly = info[1].ToBoolean();
  if (orderly) run(*g, [&] { g->pg->barrier()->wait(); });
  g->stopWatchdog();
  if (orderly) run(*g, [&] { g->pg->barrier()->wait(); });
  std::lock_guard<std::mutex> lock(registryMutex);
  groups.erase(idOf(info[0]));
  return env.Undefined();
  SIMCLR_CATCH(env)
}

Napi::Value DistAllReduce(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  auto& t = unwrap(env, info[1], "tensor");
  TORCH_CHECK(t.is_contiguous(), "allReduce_: the tensor must be contiguous");
  allReduceSum(*g, t);
  return info[1];
  SIMCLR_CATCH(env)
}

Napi::Value DistBroadcast(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  auto& t = unwrap(env, info[1], "tensor");
  TORCH_CHECK(t.is_contiguous(), "broadcast_: the tensor must be contiguous");
  c10d::BroadcastOptions bo;
  bo.rootRank = info[2].As<Napi::Number>().Int32Value();
  std::vector<at::Tensor> ts{t};
  run(*g, [&] { g->pg->broadcast(ts, bo)->wait(); });
  return info[1];
  SIMCLR_CATCH(env)
}

Napi::Value DistAllGather(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  return wrap(env, allGather(*g, unwrap(env, info[1], "tensor")));
  SIMCLR_CATCH(env)
}

// Applies a differentiable collective (AllReduceSumFn, AllGatherFn) to a tensor.
template <typename Collective>
Napi::Value Differentiable(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  const int64_t id = idOf(info[0]);
  groupById(id);
  return wrap(env, Collective::apply(unwrap(env, info[1], "tensor"), id));
  SIMCLR_CATCH(env)
}

Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  run(*g, [&] { g->pg->barrier()->wait(); });
  return env.Undefined();
  SIMCLR_CATCH(env)
}

// distStats(id) -> { collectives, commSeconds, lostRank }
Napi::Value DistStats(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  SIMCLR_TRY
  auto g = groupById(idOf(info[0]));
  auto out = Napi::Object::New(env);
  out.Set("collectives", static_cast<double>(g->collectives.load()));
  out.Set("commSeconds", static_cast<double>(g->commNanos.load()) / 1e9);
  out.Set("lostRank", g->lost.load());
  return out;
  SIMCLR_CATCH(env)
}

}  // namespace

void initDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("distInit", Napi::Function::New(env, DistInit));
  exports.Set("distDestroy", Napi::Function::New(env, DistDestroy));
  exports.Set("distAllReduce", Napi::Function::New(env, DistAllReduce));
  exports.Set("distBroadcast", Napi::Function::New(env, DistBroadcast));
  exports.Set("distAllGather", Napi::Function::New(env, DistAllGather));
  exports.Set("distAllReduceGrad", Napi::Function::New(env, Differentiable<AllReduceSumFn>));
  exports.Set("distAllGatherGrad", Napi::Function::New(env, Differentiable<AllGatherFn>));
  exports.Set("distBarrier", Napi::Function::New(env, DistBarrier));
  exports.Set("distStats", Napi::Function::New(env, DistStats));
}

}  // namespace simclr
