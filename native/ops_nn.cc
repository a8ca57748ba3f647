// Neural-network ops: convolution, batch norm, pooling, activations, losses, normalisation.
#include "handle.h"

namespace llp {

static int64_t I(const Napi::Value& v) { return v.As<Napi::Number>().Int64Value(); }
static double D(const Napi::Value& v) { return v.As<Napi::Number>().DoubleValue(); }
static bool B(const Napi::Value& v) { return v.ToBoolean().Value(); }

// conv2d(x, w, b|null, stride[2], padding[2], dilation[2], groups)
LLP_FN(Conv2d) {
  LLP_BODY(return Wrap(info.Env(), at::conv2d(T(info[0]), T(info[1]), OptT(info[2]), Ints(info[3]),
                                              Ints(info[4]), Ints(info[5]), I(info[6])));)
}

// batchNorm(x, weight|null, bias|null, runningMean|null, runningVar|null, training, momentum, eps)
// In training mode libtorch updates the running statistics in place.
LLP_FN(BatchNorm) {
  LLP_BODY(return Wrap(info.Env(), at::batch_norm(T(info[0]), OptT(info[1]), OptT(info[2]), OptT(info[3]),
                                                  OptT(info[4]), B(info[5]), D(info[6]), D(info[7]),
                                                  /*cudnn_enabled=*/false));)
}

// maxPool2d(x, kernel[2], stride[2], padding[2])
LLP_FN(MaxPool2d) {
  LLP_BODY(return Wrap(info.Env(), at::max_pool2d(T(info[0]), Ints(info[1]), Ints(info[2]), Ints(info[3])));)
}
LLP_FN(AvgPool2d) {
  LLP_BODY(return Wrap(info.Env(), at::avg_pool2d(T(info[0]), Ints(info[1]), Ints(info[2]), Ints(info[3])));)
}
LLP_FN(AdaptiveAvgPool2d) {
  LLP_BODY(return Wrap(info.Env(), at::adaptive_avg_pool2d(T(info[0]), Ints(info[1])));)
}
LLP_FN(Softmax) { LLP_BODY(return Wrap(info.Env(), at::softmax(T(info[0]), I(info[1])));) }
LLP_FN(LogSoftmax) { LLP_BODY(return Wrap(info.Env(), at::log_softmax(T(info[0]), I(info[1])));) }
LLP_FN(LeakyRelu) { LLP_BODY(return Wrap(info.Env(), at::leaky_relu(T(info[0]), Num(info[1])));) }

// crossEntropy(logits[B,C], target[B] int64, weight[B]|null, reduction: "none"|"mean"|"sum")
// With per-example weights w, "mean" is sum_i w_i * l_i / B (the batch mean of weighted terms).
LLP_FN(CrossEntropy) {
  LLP_BODY(
    const at::Tensor& logits = T(info[0]);
    const at::Tensor& target = T(info[1]);
    auto w = OptT(info[2]);
    std::string red = info[3].As<Napi::String>().Utf8Value();
    if (logits.dim() != 2) throw Napi::Error::New(info.Env(), "crossEntropy: logits must be [B,C], got " + c10::str(logits.sizes()));
    if (target.dim() != 1 || target.size(0) != logits.size(0))
      throw Napi::Error::New(info.Env(), "crossEntropy: target must be [B] with B=" + std::to_string(logits.size(0)) + ", got " + c10::str(target.sizes()));
    at::Tensor l = at::nll_loss(at::log_softmax(logits, 1), Idx(info[1], "crossEntropy target"), {}, at::Reduction::None);  // [B]
    if (w) {
      if (w->numel() != l.numel())
        throw Napi::Error::New(info.Env(), "crossEntropy: weight must be [B] with B=" + std::to_string(l.numel()) + ", got " + c10::str(w->sizes()));
      l = l * w->reshape({-1});
    }
    if (red == "mean") return Wrap(info.Env(), l.mean());
    if (red == "sum") return Wrap(info.Env(), l.sum());
    if (red == "none") return Wrap(info.Env(), l);
    throw Napi::Error::New(info.Env(), "crossEntropy: unknown reduction " + red);)
}

// normalize(x, p, dim, eps): x / max(||x||_p, eps) along dim
LLP_FN(Normalize) {
  LLP_BODY(
    const at::Tensor& x = T(info[0]);
    at::Tensor n = x.norm(Num(info[1]), {I(info[2])}, /*keepdim=*/true).clamp_min(D(info[3]));
    return Wrap(info.Env(), x / n);)
}

// dropout(x, p, training, generator): inverted dropout with a mask from the given generator
LLP_FN(Dropout) {
  LLP_BODY(
    const at::Tensor& x = T(info[0]);
    double p = D(info[1]);
    if (!B(info[2]) || p == 0) return Wrap(info.Env(), x.view_as(x));
    if (p < 0 || p >= 1) throw Napi::RangeError::New(info.Env(), "dropout: p must be in [0, 1)");
    at::Tensor mask = at::empty_like(x, x.options().requires_grad(false)).bernoulli_(1 - p, OptGen(info[3]));
    return Wrap(info.Env(), x * mask.div_(1 - p));)
}

LLP_FN(OneHot) { LLP_BODY(return Wrap(info.Env(), at::one_hot(Idx(info[0], "oneHot"), I(info[1])));) }

// Padding for augmentation: pad(x, [left,right,top,bottom], value)
LLP_FN(Pad) { LLP_BODY(return Wrap(info.Env(), at::constant_pad_nd(T(info[0]), Ints(info[1]), Num(info[2])));) }

// Bilinear resize of [B,C,H,W] to size [h,w]
LLP_FN(Interpolate) {
  LLP_BODY(return Wrap(info.Env(), at::upsample_bilinear2d(T(info[0]), Ints(info[1]), /*align_corners=*/false));)
}

void InitNN(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, Conv2d); LLP_EXPORT(e, BatchNorm); LLP_EXPORT(e, MaxPool2d); LLP_EXPORT(e, AvgPool2d);
  LLP_EXPORT(e, AdaptiveAvgPool2d); LLP_EXPORT(e, Softmax); LLP_EXPORT(e, LogSoftmax); LLP_EXPORT(e, LeakyRelu);
  LLP_EXPORT(e, CrossEntropy); LLP_EXPORT(e, Normalize); LLP_EXPORT(e, Dropout); LLP_EXPORT(e, OneHot);
  LLP_EXPORT(e, Pad); LLP_EXPORT(e, Interpolate);
}

}  // namespace llp
