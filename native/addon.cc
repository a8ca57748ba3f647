// Module entry: process-wide settings (allocator, threads) and the op families.
#include <malloc.h>

#include <ATen/Parallel.h>
#include <torch/version.h>

#include "alloc.h"
#include "handle.h"

namespace llp {

static bool g_mallopt_applied = false;

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
  g_mallopt_applied = TuneAllocator();
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
  InitDist(env, exports);
  return exports;
}

}  // namespace llp

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return llp::Init(env, exports); }
NODE_API_MODULE(llp_native, InitAddon)
