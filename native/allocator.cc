// A caching CPU allocator for libtorch. glibc gives large tensors fresh pages far too often: blocks
// above its mmap threshold are unmapped on free, and even from the heap a 64-byte-aligned block
// rarely fits the hole its predecessor left, so a training step page-faults its activations and
// views anew (measured: 75,000 page faults and 0.5 s of kernel time for one 300 MB batch of views).
// Blocks of 1 MiB and more are therefore mapped once and kept for reuse, bucketed by size; smaller
// ones stay with glibc, which reuses them well once mallopt keeps its heap (see addon.cc).
#include "common.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <malloc.h>
#include <cstdio>
#include <cstdlib>
#include <sys/mman.h>

#include <map>
#include <unordered_map>
#include <mutex>
#include <vector>

namespace simclr {
namespace {

constexpr size_t kLargeBlock = 1 << 20;

// Rounds up to a size class: steps of 1/8 of the power of two below, so at most 12.5% is wasted.
size_t sizeClass(size_t n) {
  size_t power = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = std::max<size_t>(power / 8, 1 << 16);
  return (n + step - 1) / step * step;
}

// The context of every allocation is its data pointer, so that libtorch's raw_allocate /
// raw_deallocate (used by oneDNN) work: one deleter serves all blocks, the large ones are found
// in a table of their sizes.
// Memory this process may use: the machine's, or less under a cgroup (container) limit.
size_t usableMemory() {
  size_t bytes = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    if (FILE* f = std::fopen(file, "r")) {
      unsigned long long limit = 0;
      if (std::fscanf(f, "%llu", &limit) == 1 && limit > 0) bytes = std::min<size_t>(bytes, limit);  // ("max": no limit)
      std::fclose(f);
    }
  }
  return bytes;
}

// Idle blocks kept at most: SIMCLR_CACHE_LIMIT_MB when set, else a quarter of the usable memory.
size_t idleLimit() {
  if (const char* mb = std::getenv("SIMCLR_CACHE_LIMIT_MB")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(mb, &end, 10);
    if (end != mb && *end == '\0') return static_cast<size_t>(v) << 20;
    std::fprintf(stderr, "simclr: ignoring SIMCLR_CACHE_LIMIT_MB=%s (not a number of MiB)\n", mb);
  }
  return usableMemory() / 4;
}

class CachingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t n) const override {
    void* p;
    if (n < kLargeBlock) {
      try {
        p = c10::alloc_cpu(n);
      } catch (const c10::Error&) {
        trim();  // idle blocks first, then once more
        p = c10::alloc_cpu(n);
      }
    } else {
      size_t size = sizeClass(n);
      p = take(size);
      if (p == nullptr) p = map(size);
      std::lock_guard<std::mutex> lock(mutex_);
      live_[p] = size;
    }
    return {p, p, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // Deliberately leaked: libtorch keeps a raw pointer to it, and tensors freed during static
  // destruction must still find its mutex alive.
  static CachingAllocator& instance() {
    static CachingAllocator* allocator = new CachingAllocator();
    return *allocator;
  }

  size_t limit() const { return limit_; }

  // Unmaps every cached block (memory pressure, or the user asks).
  void trim() const {
    std::vector<std::pair<void*, size_t>> drop;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [size, ptrs] : free_)
        for (void* p : ptrs) drop.emplace_back(p, size);
      free_.clear();
      cached_ = 0;
    }
    for (auto& [p, size] : drop) munmap(p, size);
  }

  size_t cachedBytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  void* take(size_t size) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it == free_.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    cached_ -= size;
    return p;
  }

  void* map(size_t size) const {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      trim();
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    TORCH_CHECK_WITH(OutOfMemoryError, p != MAP_FAILED, "out of memory: cannot allocate ", size, " bytes");
    return p;
  }

  static void release(void* p) { instance().put(p); }

  void put(void* p) const {
    size_t size;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = live_.find(p);
      if (it == live_.end()) {
        size = 0;
      } else {
        size = it->second;
        live_.erase(it);
        if (cached_ + size <= limit_) {
          free_[size].push_back(p);
          cached_ += size;
          return;
        }
      }
    }
    if (size == 0) c10::free_cpu(p);
    else munmap(p, size);
  }

  mutable std::mutex mutex_;
  mutable std::unordered_map<void*, size_t> live_;
  mutable std::map<size_t, std::vector<void*>> free_;
  mutable size_t cached_ = 0;
  size_t limit_ = idleLimit();
};

// The caching allocator's idle blocks, and the free pages of glibc's heap (which the allocator
// policy in addon.cc otherwise keeps: a data set's decoding buffers would stay resident).
Napi::Value TrimCache(const Napi::CallbackInfo& info) {
  CachingAllocator::instance().trim();
  malloc_trim(0);
  return info.Env().Undefined();
}

Napi::Value CachedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CachingAllocator::instance().cachedBytes()));
}

Napi::Value CacheLimit(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(CachingAllocator::instance().limit()));
}

}  // namespace

void installCachingAllocator() { c10::SetCPUAllocator(&CachingAllocator::instance(), /*priority=*/1); }

void initAllocator(Napi::Env env, Napi::Object exports) {
  exports.Set("trimCache", Napi::Function::New(env, TrimCache));
  exports.Set("cachedBytes", Napi::Function::New(env, CachedBytes));
  exports.Set("cacheLimit", Napi::Function::New(env, CacheLimit));
}

}  // namespace simclr
