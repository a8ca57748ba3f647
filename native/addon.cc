// Module entry: process-wide settings (allocator, threads) and the op families.
#include <malloc.h>
#include <sys/mman.h>

#include <cstdint>

#include <cstdlib>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "handle.h"

namespace llp {

// glibc returns large blocks (> 128 KiB by default) to the OS with munmap and faults them
// back in on the next step; for a training step's ~30 MB activations that is 4-10x slower.
// Raising the mmap and trim thresholds keeps freed blocks in the heap for reuse. The mmap
// threshold cannot exceed 32 MiB, and a block at least that large (a CIFAR ResNet-18 stage-1
// activation at batch 128 is exactly 32 MiB) is still mmapped whenever no free heap chunk
// fits, so mmap is turned off as well (M_MMAP_MAX = 0): large blocks then come from and go
// back to the heap too. On that ResNet-18 step: ~250k page faults -> ~20, ~5% faster.
// glibc's own variables, when set, win: the addon then leaves malloc as the user asked
// (bench/engine.ts uses this to time llp with a low threshold).
static bool g_mallopt_applied = false;

// The heap's pages still fault in one 4 KiB page at a time the first time they are touched, and on
// this kind of virtual machine a fault costs ~10 us: a fresh 8 MB block took 21 ms to fill, 7 ms
// with huge pages. So the heap is grown once by kHugeHeap, the span is marked MADV_HUGEPAGE
// (transparent huge pages in "madvise" mode, Debian's default) and handed back to malloc, which
// keeps it (trim threshold above) and carves later blocks from it. Untouched, it costs address
// space only; touched, it is backed 2 MiB at a time.
constexpr size_t kHugeHeap = size_t{512} << 20;  // below the trim threshold, or free() would return it
static bool g_huge_heap = false;
static void ReserveHugeHeap() {
  void* p = std::malloc(kHugeHeap);
  if (p == nullptr) return;
  const uintptr_t huge = uintptr_t{2} << 20;
  const uintptr_t lo = (reinterpret_cast<uintptr_t>(p) + huge - 1) & ~(huge - 1);
  const uintptr_t hi = (reinterpret_cast<uintptr_t>(p) + kHugeHeap) & ~(huge - 1);
  g_huge_heap = hi > lo && madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE) == 0;
  std::free(p);
}
static void TuneAllocator() {
  for (const char* v : {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_"})
    if (std::getenv(v) != nullptr) return;
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1;  // glibc's maximum on 64-bit
  ok = (mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1) && ok;
  ok = (mallopt(M_MMAP_MAX, 0) == 1) && ok;
  g_mallopt_applied = ok;
  if (ok) ReserveHugeHeap();
}

LLP_FN(SetNumThreads) {
  LLP_BODY(at::set_num_threads(info[0].As<Napi::Number>().Int32Value()); return info.Env().Undefined();)
}
LLP_FN(GetNumThreads) { LLP_BODY(return Napi::Number::New(info.Env(), at::get_num_threads());) }
LLP_FN(LiveTensors) { return Napi::Number::New(info.Env(), static_cast<double>(g_live.load())); }
LLP_FN(AllocatorTuned) { return Napi::Boolean::New(info.Env(), g_mallopt_applied); }
LLP_FN(MallocTrim) { return Napi::Number::New(info.Env(), malloc_trim(0)); }
// Bytes glibc holds in mmapped blocks now (mallinfo2's hblkhd): what the tuning above should
// keep from growing, read from the allocator itself rather than from g_mallopt_applied.
LLP_FN(MmappedBytes) { return Napi::Number::New(info.Env(), static_cast<double>(mallinfo2().hblkhd)); }
LLP_FN(Version) { return Napi::String::New(info.Env(), TORCH_VERSION); }

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  TuneAllocator();
  LLP_EXPORT(exports, SetNumThreads);
  LLP_EXPORT(exports, GetNumThreads);
  LLP_EXPORT(exports, LiveTensors);
  LLP_EXPORT(exports, AllocatorTuned);
  LLP_EXPORT(exports, MallocTrim);
  LLP_EXPORT(exports, MmappedBytes);
  LLP_EXPORT(exports, Version);
  InitTensor(env, exports);
  InitMath(env, exports);
  InitNN(env, exports);
  InitIndex(env, exports);
  InitAutograd(env, exports);
  InitOptim(env, exports);
  InitRandom(env, exports);
  InitTopk(env, exports);
  return exports;
}

}  // namespace llp

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return llp::Init(env, exports); }
NODE_API_MODULE(llp_native, InitAddon)
