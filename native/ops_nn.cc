// Neural-network ops: convolution, batch norm, pooling, activations, losses, normalisation.
#include <ATen/Parallel.h>

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

// setNll(v[B,D], bank[N,D], bankLabels[N] int (-1 = none), y[B] int (-1 = none), index[B] int,
//        tau, numClasses, weight[B] float) -> [loss[B], gradV[B,D]]
// The non-parametric softmax's negative log-probability of a set of bank rows, with its
// gradient in closed form (no autograd graph over the [B,N] scores):
//   E_ij = exp(v_i.V_j / tau)                            (Eq. 1's numerators)
//   A_i  = { j : bankLabels_j = y_i >= 0 } u { index_i }  (L_A's set; { index_i } alone is L_IR)
//   loss_i = log sum_j E_ij - log sum_{j in A_i} E_ij
//   gradV  = d(sum_i weight_i loss_i)/dv, row i = weight_i/tau * sum_j (E_ij/S_i - [j in A_i] E_ij/S_A_i) V_j
// The bank is a constant here (it is written by the running average, not by gradients).
// Rows are unit vectors, so E lies in [exp(-1/tau), exp(1/tau)]: for tau >= 0.025 (the config's
// floor) neither end leaves float32's range, even summed over 1e20 rows; below it the scores
// are shifted by -1/tau first (E in [exp(-2/tau), 1]). Every term is a ratio of sums of E, so the
// shift does not change the result.
// Work: two [B,N] products (the scores, and the gradient's), one exp pass, one product with the
// bank's one-hot labels that gives every row's class sums and total at once, and one pass that
// scales each E_ij by its row's coefficient for column j's class (a lookup in a [C+1] table).
// Up to this many columns (classes + 2) the class sums come from one dense product (measured
// faster than a pass of scattered adds at C = 10); above it, the product's B*N*C work and its
// N x (C+2) one-hot matrix would grow with the classes, so one pass of adds per row instead.
static constexpr int64_t kDenseClassSums = 64;
LLP_FN(SetNll) {
  LLP_BODY(
    at::NoGradGuard ng;
    const at::Tensor& v = T(info[0]);
    const at::Tensor& bank = T(info[1]);
    at::Tensor lab = Idx(info[2], "setNll bankLabels");
    at::Tensor y = Idx(info[3], "setNll y");
    at::Tensor index = Idx(info[4], "setNll index");
    double tau = D(info[5]);
    int64_t C = I(info[6]);
    const at::Tensor& w = T(info[7]);
    if (v.dim() != 2 || bank.dim() != 2 || v.size(1) != bank.size(1))
      throw Napi::Error::New(info.Env(), "setNll: v must be [B,D] and bank [N,D], got " + c10::str(v.sizes()) + " and " + c10::str(bank.sizes()));
    if (v.scalar_type() != bank.scalar_type() || !(v.scalar_type() == at::kFloat || v.scalar_type() == at::kDouble))
      throw Napi::TypeError::New(info.Env(), "setNll: v and bank must both be float32 or both float64");
    const int64_t b = v.size(0), n = bank.size(0);
    if (lab.numel() != n) throw Napi::Error::New(info.Env(), "setNll: bankLabels must be [N] with N=" + std::to_string(n) + ", got " + c10::str(lab.sizes()));
    if (y.numel() != b || index.numel() != b || w.numel() != b)
      throw Napi::Error::New(info.Env(), "setNll: y, index and weight must be [B] with B=" + std::to_string(b));
    if (!(tau > 0)) throw Napi::RangeError::New(info.Env(), "setNll: tau must be positive");
    lab = lab.reshape({-1}); y = y.reshape({-1}); index = index.reshape({-1});
    if (n > 0 && (index.min().item<int64_t>() < 0 || index.max().item<int64_t>() >= n))
      throw Napi::RangeError::New(info.Env(), "setNll: index out of range [0, " + std::to_string(n) + ")");
    if (n > 0 && (lab.min().item<int64_t>() < -1 || lab.max().item<int64_t>() >= C))
      throw Napi::RangeError::New(info.Env(), "setNll: bankLabels must lie in [-1, " + std::to_string(C) + ")");
    if (b > 0 && (y.min().item<int64_t>() < -1 || y.max().item<int64_t>() >= C))
      throw Napi::RangeError::New(info.Env(), "setNll: y must lie in [-1, " + std::to_string(C) + ")");
    at::Tensor E = at::mm(v * (1.0 / tau), bank.t());          // [B,N] v.V/tau
    if (tau < 0.025) E.sub_(1.0 / tau);
    E.exp_();                                                  // [B,N] E
    at::Tensor col = (lab + 1).to(at::kInt).contiguous();      // [N] class column, 0 = none
    TORCH_CHECK(E.is_contiguous(), "setNll: scores must be contiguous");
    at::Tensor sums;                                           // [B,C+2] each class's sum of E, then the row's
    if (C + 2 <= kDenseClassSums) {
      // one product with the one-hot labels and a ones column: B*N*(C+2) multiply-adds, vectorised
      at::Tensor member = at::zeros({n, C + 2}, E.options());
      member.scatter_(1, col.to(at::kLong).unsqueeze(1), 1.0);
      member.select(1, C + 1).fill_(1.0);
      sums = at::mm(E, member);
    } else {
      // many classes: one pass per row, adding each entry to its class (B*N, not B*N*C)
      sums = at::zeros({b, C + 2}, E.options());
      AT_DISPATCH_FLOATING_TYPES(E.scalar_type(), "setNll sums", [&] {
        const scalar_t* e = E.data_ptr<scalar_t>();
        scalar_t* out = sums.data_ptr<scalar_t>();
        const int32_t* cj = col.data_ptr<int32_t>();
        at::parallel_for(0, b, 1, [&](int64_t lo, int64_t hi) {
          for (int64_t i = lo; i < hi; i++) {
            const scalar_t* row = e + i * n;
            scalar_t* acc = out + i * (C + 2);
            double total = 0;
            for (int64_t j = 0; j < n; j++) {
              acc[cj[j]] += row[j];
              total += row[j];
            }
            acc[C + 1] = static_cast<scalar_t>(total);
          }
        });
      });
    }
    at::Tensor classMass = sums.narrow(1, 0, C + 1);           // [B,C+1] sum of E over each class's rows
    at::Tensor rowSum = sums.select(1, C + 1);                 // [B] sum of E over the bank
    at::Tensor valid = y.ge(0).to(E.scalar_type());            // [B]
    at::Tensor yc = (y + 1).unsqueeze(1);                      // [B,1]
    at::Tensor inClass = classMass.gather(1, yc).squeeze(1) * valid;                                   // [B]
    at::Tensor own = E.gather(1, index.unsqueeze(1)).squeeze(1);                                       // [B]
    at::Tensor ownOut = lab.index_select(0, index).ne(y).logical_or(y.lt(0)).to(E.scalar_type());     // [B] own row not in the class sum
    at::Tensor massA = inClass + own * ownOut;                                                         // [B]
    at::Tensor loss = rowSum.log() - massA.log();                                                      // [B]
    // d(w_i loss_i) / d(v_i.V_j/tau) = w_i (E_ij / rowSum_i - [j in A_i] E_ij / massA_i): per row,
    // one coefficient for each class column ([C+1] table), then the own row when it lies outside
    // its class; with the 1/tau of d(v.V/tau)/dv folded in.
    at::Tensor wt = w.reshape({-1}).to(E.scalar_type()) * (1.0 / tau);                                 // [B]
    at::Tensor invA = massA.reciprocal();                                                              // [B]
    at::Tensor table = (rowSum.reciprocal() * wt).unsqueeze(1).repeat({1, C + 1});                     // [B,C+1]
    table.scatter_add_(1, yc, (-invA * valid * wt).unsqueeze(1));
    table = table.contiguous();
    AT_DISPATCH_FLOATING_TYPES(E.scalar_type(), "setNll", [&] {
      scalar_t* e = E.data_ptr<scalar_t>();
      const scalar_t* tab = table.data_ptr<scalar_t>();
      const int32_t* cj = col.data_ptr<int32_t>();
      const int64_t width = C + 1;
      at::parallel_for(0, b, 1, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; i++) {
          scalar_t* row = e + i * n;
          const scalar_t* t = tab + i * width;
          for (int64_t j = 0; j < n; j++) row[j] *= t[cj[j]];
        }
      });
    });
    E.scatter_add_(1, index.unsqueeze(1), (-own * invA * ownOut * wt).unsqueeze(1));
    at::Tensor gradV = at::mm(E, bank);                                                                // [B,D]
    Napi::Array out = Napi::Array::New(info.Env(), 2);
    out.Set(0u, Wrap(info.Env(), loss));
    out.Set(1u, Wrap(info.Env(), gradV));
    return out;)
}

// affineGrid(theta[B,2,3], size[B,C,H,W]) -> grid [B,H,W,2] of sampling points in [-1,1]
// (align_corners = false), and gridSample(x[B,C,H,W], grid) -> [B,C,H,W]: bilinear, zeros
// outside the image. Together: one random affine warp per image (the strong view).
LLP_FN(AffineGrid) {
  LLP_BODY(return Wrap(info.Env(), at::affine_grid_generator(T(info[0]), Ints(info[1]), /*align_corners=*/false));)
}
LLP_FN(GridSample) {
  LLP_BODY(return Wrap(info.Env(), at::grid_sampler(T(info[0]), T(info[1]), /*bilinear*/ 0, /*zeros*/ 0, /*align_corners=*/false));)
}

void InitNN(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, Conv2d); LLP_EXPORT(e, BatchNorm); LLP_EXPORT(e, MaxPool2d); LLP_EXPORT(e, AvgPool2d);
  LLP_EXPORT(e, AdaptiveAvgPool2d); LLP_EXPORT(e, Softmax); LLP_EXPORT(e, LogSoftmax); LLP_EXPORT(e, LeakyRelu);
  LLP_EXPORT(e, CrossEntropy); LLP_EXPORT(e, Normalize); LLP_EXPORT(e, Dropout); LLP_EXPORT(e, OneHot);
  LLP_EXPORT(e, Pad); LLP_EXPORT(e, Interpolate); LLP_EXPORT(e, SetNll);
  LLP_EXPORT(e, AffineGrid); LLP_EXPORT(e, GridSample);
}

}  // namespace llp
