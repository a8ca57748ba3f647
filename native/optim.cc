// Optimiser kernels: one native call updates a whole parameter group.
#include "handle.h"

namespace llp {

// sgdStep(params[], momentumBuffers[], lr, momentum, dampening, weightDecay, nesterov)
// PyTorch's SGD: d = g + wd*p; buf = m*buf + (1-dampening)*d; d = nesterov ? d + m*buf : buf;
// p -= lr*d. Buffers start at zero, which equals PyTorch's "buf = d" on the first step when
// dampening = 0. Parameters without a gradient are skipped.
LLP_FN(SgdStep) {
  LLP_BODY(
    at::NoGradGuard guard;
    auto params = Ts(info[0]);
    auto bufs = Ts(info[1]);
    double lr = info[2].As<Napi::Number>().DoubleValue();
    double m = info[3].As<Napi::Number>().DoubleValue();
    double damp = info[4].As<Napi::Number>().DoubleValue();
    double wd = info[5].As<Napi::Number>().DoubleValue();
    bool nesterov = info[6].ToBoolean().Value();
    if (bufs.size() != params.size()) throw Napi::Error::New(info.Env(), "sgdStep: one momentum buffer per parameter");
    for (size_t i = 0; i < params.size(); i++) {
      at::Tensor& p = params[i];
      const at::Tensor& g = p.grad();
      if (!g.defined()) continue;
      at::Tensor d = wd != 0 ? g.add(p, wd) : g;
      if (m != 0) {
        bufs[i].mul_(m).add_(d, 1 - damp);
        d = nesterov ? d.add(bufs[i], m) : bufs[i];
      }
      p.add_(d, -lr);
    }
    return info.Env().Undefined();)
}

// sumSquares(params[]): sum of ||p||^2, for the lambda*||theta||^2 monitor
LLP_FN(SumSquares) {
  LLP_BODY(
    at::NoGradGuard guard;
    double s = 0;
    for (auto& p : Ts(info[0])) s += p.detach().pow(2).sum().item<double>();
    return Napi::Number::New(info.Env(), s);)
}

void InitOptim(Napi::Env env, Napi::Object e) { LLP_EXPORT(e, SgdStep); LLP_EXPORT(e, SumSquares); }

}  // namespace llp
