// A tensor freed during static destruction, after main returns: libtorch keeps a raw pointer to the
// caching allocator, so the allocator must still be alive then. `held` is a static constructed
// before the allocator's first use, so it is destroyed after any function-local static the
// allocator could be; under AddressSanitizer a destroyed allocator shows as a use of freed memory.
#include <ATen/ATen.h>

namespace simclr {
void installCachingAllocator();
}

at::Tensor held;

int main() {
  simclr::installCachingAllocator();
  held = at::empty({1 << 20});  // 4 MiB: a block the caching allocator maps and tracks
  return 0;
}
