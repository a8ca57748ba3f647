// llp_topk.node: the blocked top-k kernel (topk_core.cc) on plain typed arrays, with BLAS and
// OpenMP but without libtorch, whose loading alone takes ~0.55 s on this machine. `llp propagate`
// on a .npy of embeddings needs nothing else (src/propagation/stream.ts).
#include <napi.h>
#include <omp.h>

#include <cmath>
#include <string>

#include "alloc.h"
#include "topk_core.h"

namespace {

template <typename A>
A Arg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* what) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type)
    throw Napi::TypeError::New(info.Env(), std::string("topkMerge: ") + what + " has the wrong array type");
  return info[i].As<A>();
}

int64_t Int(const Napi::CallbackInfo& info, size_t i, const char* what, int64_t min) {
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= static_cast<double>(min)) || v != std::floor(v))
    throw Napi::RangeError::New(info.Env(), std::string("topkMerge: ") + what + " must be an integer >= " + std::to_string(min));
  return static_cast<int64_t>(v);
}

// topkMerge(queries f32 [nq*d], keys f32 [nk*d], d, tau, bias f32 [nk] | null, offset, values f32 [nq*k],
//           indices i64 [nq*k], qTile, kTile)
Napi::Value TopkMerge(const Napi::CallbackInfo& info) {
  auto q = Arg<Napi::Float32Array>(info, 0, napi_float32_array, "queries");
  auto keys = Arg<Napi::Float32Array>(info, 1, napi_float32_array, "keys");
  const int64_t d = Int(info, 2, "d", 1);
  const double tau = info[3].As<Napi::Number>().DoubleValue();
  const bool hasBias = !(info[4].IsNull() || info[4].IsUndefined());
  const int64_t offset = Int(info, 5, "offset", 0);
  auto vals = Arg<Napi::Float32Array>(info, 6, napi_float32_array, "values");
  auto idx = Arg<Napi::BigInt64Array>(info, 7, napi_bigint64_array, "indices");
  const int64_t qTile = Int(info, 8, "qTile", 1), kTile = Int(info, 9, "kTile", 1);
  const auto env = info.Env();
  const int64_t nq = static_cast<int64_t>(q.ElementLength()) / d, nk = static_cast<int64_t>(keys.ElementLength()) / d;
  if (nq * d != static_cast<int64_t>(q.ElementLength()) || nk * d != static_cast<int64_t>(keys.ElementLength()))
    throw Napi::RangeError::New(env, "topkMerge: queries and keys must hold whole rows of d = " + std::to_string(d));
  if (!(std::isfinite(static_cast<float>(tau)) && static_cast<float>(tau) > 0))
    throw Napi::RangeError::New(env, "topkMerge: tau must be a positive float32, got " + std::to_string(tau));
  if (qTile * kTile > (int64_t{1} << 28)) throw Napi::RangeError::New(env, "topkMerge: tiles must hold at most 2^28 scores");
  const int64_t k = nq == 0 ? 0 : static_cast<int64_t>(vals.ElementLength()) / nq;
  if (nq > 0 && (k < 1 || k * nq != static_cast<int64_t>(vals.ElementLength())))
    throw Napi::RangeError::New(env, "topkMerge: values must be [nq, k >= 1] for nq = " + std::to_string(nq));
  if (idx.ElementLength() != vals.ElementLength()) throw Napi::RangeError::New(env, "topkMerge: indices must be shaped like values");
  const float* bias = nullptr;
  if (hasBias) {
    auto b = Arg<Napi::Float32Array>(info, 4, napi_float32_array, "bias");
    if (static_cast<int64_t>(b.ElementLength()) != nk) throw Napi::RangeError::New(env, "topkMerge: bias must be [nk] = " + std::to_string(nk));
    bias = b.Data();
  }
  try {
    llp::TopkMerge({q.Data(), nq, keys.Data(), nk, d, static_cast<float>(tau), bias, offset, vals.Data(), idx.Data(), k, qTile, kTile});
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("topkMerge: ") + e.what());
  }
  return env.Undefined();
}

// normalizeRows(x f32 [n*d], d): each row divided by max(its L2 norm, 1e-12), in place
Napi::Value NormalizeRows(const Napi::CallbackInfo& info) {
  auto x = Arg<Napi::Float32Array>(info, 0, napi_float32_array, "rows");
  const int64_t d = Int(info, 1, "d", 1);
  const int64_t n = static_cast<int64_t>(x.ElementLength()) / d;
  float* p = x.Data();
#pragma omp parallel for schedule(static) if (n > 4096)
  for (int64_t i = 0; i < n; ++i) {
    float* r = p + i * d;
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += static_cast<double>(r[j]) * r[j];
    const float inv = static_cast<float>(std::max(std::sqrt(s), 1e-12));
    for (int64_t j = 0; j < d; ++j) r[j] = r[j] / inv;
  }
  return info.Env().Undefined();
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  omp_set_num_threads(static_cast<int>(Int(info, 0, "threads", 1)));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), omp_get_max_threads()); }

Napi::Object Init(Napi::Env env, Napi::Object e) {
  llp::TuneAllocator();
  e.Set("topkMerge", Napi::Function::New(env, TopkMerge, "topkMerge"));
  e.Set("normalizeRows", Napi::Function::New(env, NormalizeRows, "normalizeRows"));
  e.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  e.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  return e;
}

}  // namespace

NODE_API_MODULE(llp_topk, Init)
