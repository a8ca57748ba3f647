// Tensor creation, export to typed arrays, metadata, dtype/layout conversion, lifetime.
#include <cstring>

#include "handle.h"

namespace llp {

static at::TensorOptions Opts(const Napi::Value& dtype) {
  return at::TensorOptions().dtype(dtype.IsString() ? DType(dtype) : at::kFloat);
}

// fromBuffer(typedArray, shape, dtype): copies the bytes into a new tensor.
LLP_FN(FromBuffer) {
  LLP_BODY(
    auto ta = info[0].As<Napi::TypedArray>();
    auto shape = Ints(info[1]);
    auto st = DType(info[2]);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    size_t want = t.numel() * t.element_size();
    size_t have = ta.ByteLength();
    if (want != have)
      throw Napi::RangeError::New(info.Env(), "fromBuffer: " + std::to_string(have) +
                                  " bytes given for shape " + c10::str(t.sizes()) + " of " +
                                  DTypeName(st) + " (" + std::to_string(want) + " bytes)");
    auto ab = ta.ArrayBuffer();
    std::memcpy(t.data_ptr(), static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset(), want);
    return Wrap(info.Env(), t);)
}

// toBuffer(t): a fresh ArrayBuffer holding the tensor's elements in C order.
LLP_FN(ToBuffer) {
  LLP_BODY(
    at::Tensor t = T(info[0]).detach().contiguous();
    size_t n = t.numel() * t.element_size();
    auto ab = Napi::ArrayBuffer::New(info.Env(), n);
    if (n > 0) std::memcpy(ab.Data(), t.data_ptr(), n);
    return ab;)
}

LLP_FN(Item) {
  LLP_BODY(
    const at::Tensor& t = T(info[0]);
    if (t.numel() != 1)
      throw Napi::RangeError::New(info.Env(), "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
    return Napi::Number::New(info.Env(), t.item<double>());)
}

LLP_FN(Meta) {  // [shape, dtype, requiresGrad]
  LLP_BODY(
    const at::Tensor& t = T(info[0]);
    auto arr = Napi::Array::New(info.Env(), 3);
    auto shape = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); i++) shape.Set(i, Napi::Number::New(info.Env(), t.size(i)));
    arr.Set(0u, shape);
    arr.Set(1u, Napi::String::New(info.Env(), DTypeName(t.scalar_type())));
    arr.Set(2u, Napi::Boolean::New(info.Env(), t.requires_grad()));
    return arr;)
}

LLP_FN(Shape) {
  LLP_BODY(
    const at::Tensor& t = T(info[0]);
    auto shape = Napi::Array::New(info.Env(), t.dim());
    for (int64_t i = 0; i < t.dim(); i++) shape.Set(i, Napi::Number::New(info.Env(), t.size(i)));
    return shape;)
}

LLP_FN(Free) {
  LLP_BODY(
    Handle* h = GetHandle(info[0]);
    if (!h->freed) {
      h->freed = true;
      h->t.reset();
      g_live--;
      Napi::MemoryManagement::AdjustExternalMemory(info.Env(), -h->bytes);
    }
    return info.Env().Undefined();)
}

LLP_FN(IsFreed) { LLP_BODY(return Napi::Boolean::New(info.Env(), GetHandle(info[0])->freed);) }

LLP_FN(Zeros) { LLP_BODY(return Wrap(info.Env(), at::zeros(Ints(info[0]), Opts(info[1])));) }
LLP_FN(Ones) { LLP_BODY(return Wrap(info.Env(), at::ones(Ints(info[0]), Opts(info[1])));) }
LLP_FN(Full) { LLP_BODY(return Wrap(info.Env(), at::full(Ints(info[0]), Num(info[1]), Opts(info[2])));) }
LLP_FN(Empty) { LLP_BODY(return Wrap(info.Env(), at::empty(Ints(info[0]), Opts(info[1])));) }
LLP_FN(Arange) {  // arange(start, end, step, dtype)
  LLP_BODY(return Wrap(info.Env(), at::arange(Num(info[0]), Num(info[1]), Num(info[2]),
                                              Opts(info[3])));)
}
LLP_FN(Eye) { LLP_BODY(return Wrap(info.Env(), at::eye(info[0].As<Napi::Number>().Int64Value(), Opts(info[1])));) }
LLP_FN(ScalarTensor) { LLP_BODY(return Wrap(info.Env(), at::scalar_tensor(Num(info[0]), Opts(info[1])));) }

LLP_FN(To) { LLP_BODY(return Wrap(info.Env(), T(info[0]).to(DType(info[1])));) }
LLP_FN(Clone) { LLP_BODY(return Wrap(info.Env(), T(info[0]).clone());) }
LLP_FN(Detach) { LLP_BODY(return Wrap(info.Env(), T(info[0]).detach());) }
LLP_FN(Contiguous) { LLP_BODY(return Wrap(info.Env(), T(info[0]).contiguous());) }
// NHWC as PyTorch's x.to(memory_format=torch.channels_last) makes it: unless the tensor already
// reads as NHWC (suggest_memory_format), a copy with NHWC strides. contiguous(ChannelsLast) would
// return a one-channel [B, 1, H, W] batch or a [Cout, 1, k, k] weight as it is (both layouts
// "hold" when C = 1), which oneDNN then runs as NCHW: the first layer's output, BN and pooling
// included (measured: small-cnn's step 48 ms against 32 ms for PyTorch's channels-last).
static at::Tensor Nhwc(const at::Tensor& t) { return t.to(t.options(), false, false, at::MemoryFormat::ChannelsLast); }
LLP_FN(ChannelsLast) { LLP_BODY(return Wrap(info.Env(), Nhwc(T(info[0])));) }
// In place, for parameters: the same tensor (every handle, the optimiser's included) takes NHWC
// memory (what nn.Module.to(memory_format=...) does through .data).
LLP_FN(ToChannelsLast_) {
  LLP_BODY(at::Tensor t = T(info[0]); at::NoGradGuard g;
           t.set_data(Nhwc(t.detach())); return info.Env().Undefined();)
}
LLP_FN(SuggestsChannelsLast) {  // the layout ATen's kernels (oneDNN's conv) will pick for it
  LLP_BODY(return Napi::Boolean::New(info.Env(), T(info[0]).suggest_memory_format() == at::MemoryFormat::ChannelsLast);)
}
LLP_FN(IsChannelsLast) {
  LLP_BODY(return Napi::Boolean::New(info.Env(), T(info[0]).is_contiguous(at::MemoryFormat::ChannelsLast));)
}
LLP_FN(IsContiguous) { LLP_BODY(return Napi::Boolean::New(info.Env(), T(info[0]).is_contiguous());) }
LLP_FN(CopyInto) {  // copy_(dst, src): in place, same shape (broadcast allowed)
  LLP_BODY(at::NoGradGuard g; T(info[0]).copy_(T(info[1])); return info.Env().Undefined();)
}
LLP_FN(Fill) { LLP_BODY(at::NoGradGuard g; T(info[0]).fill_(Num(info[1])); return info.Env().Undefined();) }
LLP_FN(ToString) { LLP_BODY(return Napi::String::New(info.Env(), c10::str(T(info[0])));) }
LLP_FN(SameStorage) {
  LLP_BODY(return Napi::Boolean::New(info.Env(), T(info[0]).is_same(T(info[1])) ||
                                     T(info[0]).storage().is_alias_of(T(info[1]).storage()));)
}

void InitTensor(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, FromBuffer); LLP_EXPORT(e, ToBuffer); LLP_EXPORT(e, Item); LLP_EXPORT(e, Meta);
  LLP_EXPORT(e, Shape); LLP_EXPORT(e, Free); LLP_EXPORT(e, IsFreed); LLP_EXPORT(e, Zeros);
  LLP_EXPORT(e, Ones); LLP_EXPORT(e, Full); LLP_EXPORT(e, Empty); LLP_EXPORT(e, Arange);
  LLP_EXPORT(e, Eye); LLP_EXPORT(e, ScalarTensor); LLP_EXPORT(e, To); LLP_EXPORT(e, Clone);
  LLP_EXPORT(e, Detach); LLP_EXPORT(e, Contiguous); LLP_EXPORT(e, ChannelsLast);
  LLP_EXPORT(e, ToChannelsLast_); LLP_EXPORT(e, SuggestsChannelsLast); LLP_EXPORT(e, IsChannelsLast); LLP_EXPORT(e, IsContiguous); LLP_EXPORT(e, CopyInto);
  LLP_EXPORT(e, Fill); LLP_EXPORT(e, ToString); LLP_EXPORT(e, SameStorage);
}

}  // namespace llp
