// Indexing, selection and shape ops: gather/scatter, index_select/copy_/add_, topk, sort,
// cat/stack, views.
#include "handle.h"

namespace llp {

static int64_t I(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }

static Napi::Value Pair(Napi::Env env, std::tuple<at::Tensor, at::Tensor> r) {
  auto arr = Napi::Array::New(env, 2);
  arr.Set(0u, Wrap(env, std::get<0>(r)));
  arr.Set(1u, Wrap(env, std::get<1>(r)));
  return arr;
}

LLP_FN(Gather) { LLP_BODY(return Wrap(info.Env(), at::gather(T(info[0]), I(info[1]), Idx(info[2], "gather")));) }
// scatter(t, dim, index, src|number): out-of-place
LLP_FN(Scatter) {
  LLP_BODY(
    const at::Tensor& t = T(info[0]);
    at::Tensor idx = Idx(info[2], "scatter");
    if (info[3].IsExternal()) return Wrap(info.Env(), at::scatter(t, I(info[1]), idx, T(info[3])));
    return Wrap(info.Env(), at::scatter(t, I(info[1]), idx, Num(info[3])));)
}
LLP_FN(ScatterAdd) {
  LLP_BODY(return Wrap(info.Env(), at::scatter_add(T(info[0]), I(info[1]), Idx(info[2], "scatterAdd"), T(info[3])));)
}
LLP_FN(IndexSelect) { LLP_BODY(return Wrap(info.Env(), at::index_select(T(info[0]), I(info[1]), Idx(info[2], "indexSelect")));) }
// In-place state writes (memory bank): never recorded by autograd.
LLP_FN(IndexCopy_) {
  LLP_BODY(at::NoGradGuard g; T(info[0]).index_copy_(I(info[1]), Idx(info[2], "indexCopy_"), T(info[3])); return info.Env().Undefined();)
}
LLP_FN(IndexAdd_) {
  LLP_BODY(at::NoGradGuard g; T(info[0]).index_add_(I(info[1]), Idx(info[2], "indexAdd_"), T(info[3])); return info.Env().Undefined();)
}
LLP_FN(IndexFill_) {
  LLP_BODY(at::NoGradGuard g; T(info[0]).index_fill_(I(info[1]), Idx(info[2], "indexFill_"), Num(info[3])); return info.Env().Undefined();)
}
LLP_FN(MaskedSelect) { LLP_BODY(return Wrap(info.Env(), at::masked_select(T(info[0]), T(info[1]).to(at::kBool)));) }
LLP_FN(MaskedFill) {
  LLP_BODY(return Wrap(info.Env(), at::masked_fill(T(info[0]), T(info[1]).to(at::kBool), Num(info[2])));)
}
LLP_FN(Nonzero) { LLP_BODY(return Wrap(info.Env(), at::nonzero(T(info[0])).reshape({-1}));) }  // 1-D only use
// topk(t, k, dim, largest) -> [values, indices]
LLP_FN(Topk) {
  LLP_BODY(return Pair(info.Env(), at::topk(T(info[0]), I(info[1]), I(info[2]), info[3].ToBoolean().Value(), true));)
}
// sort(t, dim, descending) -> [values, indices] (stable)
LLP_FN(Sort) {
  LLP_BODY(return Pair(info.Env(), at::sort(T(info[0]), /*stable=*/true, I(info[1]), info[2].ToBoolean().Value()));)
}
LLP_FN(Bincount) {  // bincount(t int, minlength)
  LLP_BODY(return Wrap(info.Env(), at::bincount(Idx(info[0], "bincount"), {}, I(info[1])));)
}
LLP_FN(Cat) { LLP_BODY(return Wrap(info.Env(), at::cat(Ts(info[0]), I(info[1])));) }
LLP_FN(Stack) { LLP_BODY(return Wrap(info.Env(), at::stack(Ts(info[0]), I(info[1])));) }
LLP_FN(Reshape) { LLP_BODY(return Wrap(info.Env(), T(info[0]).reshape(Ints(info[1])));) }
LLP_FN(Permute) { LLP_BODY(return Wrap(info.Env(), T(info[0]).permute(Ints(info[1])));) }
LLP_FN(Transpose) { LLP_BODY(return Wrap(info.Env(), T(info[0]).transpose(I(info[1]), I(info[2])));) }
LLP_FN(Flatten) { LLP_BODY(return Wrap(info.Env(), T(info[0]).flatten(I(info[1]), I(info[2])));) }
LLP_FN(Unsqueeze) { LLP_BODY(return Wrap(info.Env(), T(info[0]).unsqueeze(I(info[1])));) }
LLP_FN(Squeeze) { LLP_BODY(return Wrap(info.Env(), T(info[0]).squeeze(I(info[1])));) }
LLP_FN(Expand) { LLP_BODY(return Wrap(info.Env(), T(info[0]).expand(Ints(info[1])));) }
LLP_FN(Flip) { LLP_BODY(return Wrap(info.Env(), at::flip(T(info[0]), Ints(info[1])));) }
// slice(t, dim, start, end, step)
LLP_FN(Slice) {
  LLP_BODY(return Wrap(info.Env(), T(info[0]).slice(I(info[1]), I(info[2]), I(info[3]), I(info[4])));)
}
LLP_FN(Select) { LLP_BODY(return Wrap(info.Env(), T(info[0]).select(I(info[1]), I(info[2])));) }

void InitIndex(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, Gather); LLP_EXPORT(e, Scatter); LLP_EXPORT(e, ScatterAdd); LLP_EXPORT(e, IndexSelect);
  LLP_EXPORT(e, IndexCopy_); LLP_EXPORT(e, IndexAdd_); LLP_EXPORT(e, IndexFill_); LLP_EXPORT(e, MaskedSelect);
  LLP_EXPORT(e, MaskedFill); LLP_EXPORT(e, Nonzero); LLP_EXPORT(e, Topk); LLP_EXPORT(e, Sort);
  LLP_EXPORT(e, Bincount); LLP_EXPORT(e, Cat); LLP_EXPORT(e, Stack); LLP_EXPORT(e, Reshape);
  LLP_EXPORT(e, Permute); LLP_EXPORT(e, Transpose); LLP_EXPORT(e, Flatten); LLP_EXPORT(e, Unsqueeze);
  LLP_EXPORT(e, Squeeze); LLP_EXPORT(e, Expand); LLP_EXPORT(e, Flip); LLP_EXPORT(e, Slice); LLP_EXPORT(e, Select);
}

}  // namespace llp
