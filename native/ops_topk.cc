// topkDotMerge_ on libtorch tensors: checks the tensors and runs the shared kernel (topk_core.cc).
#include <cmath>

#include "handle.h"
#include "topk_core.h"

namespace llp {

// topkDotMerge_(queries, keys, tau, bias|null, offset, values, indices, qTile, kTile)
LLP_FN(TopkDotMerge_) {
  LLP_BODY(
    const at::Tensor& q = T(info[0]);
    const at::Tensor& keys = T(info[1]);
    const double tau = info[2].As<Napi::Number>().DoubleValue();
    c10::optional<at::Tensor> bias = OptT(info[3]);
    const int64_t offset = info[4].As<Napi::Number>().Int64Value();
    const at::Tensor& vals = T(info[5]);
    const at::Tensor& idx = T(info[6]);
    const int64_t qTile = info[7].As<Napi::Number>().Int64Value();
    const int64_t kTile = info[8].As<Napi::Number>().Int64Value();
    auto f32 = [](const at::Tensor& t, const char* what, int64_t dims) {
      TORCH_CHECK(t.scalar_type() == at::kFloat && t.dim() == dims && t.is_contiguous(),
                  "topkDotMerge_: ", what, " must be a contiguous float32 tensor of ", dims, " dims, got ", t.sizes(), " ", t.scalar_type());
    };
    f32(q, "queries", 2); f32(keys, "keys", 2); f32(vals, "values", 2);
    TORCH_CHECK(idx.scalar_type() == at::kLong && idx.is_contiguous() && idx.sizes() == vals.sizes(),
                "topkDotMerge_: indices must be a contiguous int64 tensor shaped like values ", vals.sizes());
    TORCH_CHECK(q.size(1) == keys.size(1), "topkDotMerge_: queries ", q.sizes(), " and keys ", keys.sizes(), " differ in D");
    TORCH_CHECK(vals.size(0) == q.size(0) && vals.size(1) >= 1, "topkDotMerge_: values ", vals.sizes(), " must be [", q.size(0), ", k >= 1]");
    TORCH_CHECK(q.size(1) >= 1, "topkDotMerge_: D must be >= 1");
    TORCH_CHECK(std::isfinite(static_cast<float>(tau)) && static_cast<float>(tau) > 0, "topkDotMerge_: tau must be a positive float32, got ", tau);
    TORCH_CHECK(qTile >= 1 && kTile >= 1 && qTile * kTile <= (int64_t{1} << 28), "topkDotMerge_: tiles must be >= 1 and hold at most 2^28 scores");
    if (bias) {
      f32(*bias, "bias", 1);
      TORCH_CHECK(bias->size(0) == keys.size(0), "topkDotMerge_: bias ", bias->sizes(), " must be [", keys.size(0), "]");
    }
    TopkMerge({q.data_ptr<float>(), q.size(0), keys.data_ptr<float>(), keys.size(0), q.size(1), static_cast<float>(tau),
               bias ? bias->data_ptr<float>() : nullptr, offset, vals.data_ptr<float>(), idx.data_ptr<int64_t>(), vals.size(1), qTile, kTile});
    return info.Env().Undefined();)
}

void InitTopk(Napi::Env env, Napi::Object e) { LLP_EXPORT(e, TopkDotMerge_); }

}  // namespace llp
