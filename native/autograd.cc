// Autograd: requires-grad flags, backward, gradients, grad mode.
#include "handle.h"

namespace llp {

LLP_FN(RequiresGrad_) {
  LLP_BODY(T(info[0]).requires_grad_(info[1].ToBoolean().Value()); return info.Env().Undefined();)
}
// backward(t, grad|null)
LLP_FN(Backward) {
  LLP_BODY(
    const at::Tensor& t = T(info[0]);
    auto g = OptT(info[1]);
    if (!t.requires_grad()) throw Napi::Error::New(info.Env(), "backward(): tensor does not require grad (was it computed under noGrad, or from inputs without requiresGrad?)");
    if (!g && t.numel() != 1) throw Napi::Error::New(info.Env(), "backward(): grad can be implicitly created only for scalar outputs; shape " + c10::str(t.sizes()));
    t.backward(g ? *g : at::Tensor());
    return info.Env().Undefined();)
}
// grad(t): a new handle on t's gradient, or null
LLP_FN(Grad) {
  LLP_BODY(
    const at::Tensor& g = T(info[0]).grad();
    if (!g.defined()) return info.Env().Null();
    return Wrap(info.Env(), g);)
}
LLP_FN(ZeroGrad) {  // zeroGrad(params[]): drops the gradients (set_to_none semantics)
  LLP_BODY(for (auto& t : Ts(info[0])) t.mutable_grad().reset(); return info.Env().Undefined();)
}
LLP_FN(SetGradEnabled) {  // returns the previous mode
  LLP_BODY(bool prev = at::GradMode::is_enabled(); at::GradMode::set_enabled(info[0].ToBoolean().Value());
           return Napi::Boolean::New(info.Env(), prev);)
}
LLP_FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled()); }

void InitAutograd(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, RequiresGrad_); LLP_EXPORT(e, Backward); LLP_EXPORT(e, Grad); LLP_EXPORT(e, ZeroGrad);
  LLP_EXPORT(e, SetGradEnabled); LLP_EXPORT(e, IsGradEnabled);
}

}  // namespace llp
