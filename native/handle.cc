#include "handle.h"

#include <cmath>

namespace llp {

std::atomic<int64_t> g_live{0};

static void FinalizeHandle(Napi::Env env, Handle* h) {
  if (!h->freed) {
    g_live--;
    Napi::MemoryManagement::AdjustExternalMemory(env, -h->bytes);
  }
  delete h;
}

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  auto* h = new Handle();
  h->bytes = t.defined() ? static_cast<int64_t>(t.numel() * t.element_size()) : 0;
  h->t = std::move(t);
  g_live++;
  if (h->bytes > 0) Napi::MemoryManagement::AdjustExternalMemory(env, h->bytes);
  return Napi::External<Handle>::New(env, h, FinalizeHandle);
}

Handle* GetHandle(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a Tensor handle");
  return v.As<Napi::External<Handle>>().Data();
}

const at::Tensor& T(const Napi::Value& v) {
  Handle* h = GetHandle(v);
  if (h->freed) throw Napi::Error::New(v.Env(), "Tensor was used after dispose()");
  return h->t;
}

std::vector<at::Tensor> Ts(const Napi::Value& v) {
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(T(arr.Get(i)));
  return out;
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  if (v.IsNumber()) return {v.As<Napi::Number>().Int64Value()};
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out[i] = arr.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

c10::optional<at::Tensor> OptT(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return c10::nullopt;
  return T(v);
}

at::ScalarType DType(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "float32") return at::kFloat;
  if (s == "float64") return at::kDouble;
  if (s == "int64") return at::kLong;
  if (s == "int32") return at::kInt;
  if (s == "uint8") return at::kByte;
  if (s == "bool") return at::kBool;
  throw Napi::TypeError::New(v.Env(), "unknown dtype '" + s + "'");
}

std::string DTypeName(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(s);
  }
}

struct GenBox {
  at::Generator g;
};

at::Generator& Gen(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a Generator handle");
  return v.As<Napi::External<GenBox>>().Data()->g;
}

c10::optional<at::Generator> OptGen(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return c10::nullopt;
  return Gen(v);
}

Napi::Value WrapGen(Napi::Env env, at::Generator g) {
  return Napi::External<GenBox>::New(env, new GenBox{std::move(g)},
                                     [](Napi::Env, GenBox* b) { delete b; });
}

at::Tensor Idx(const Napi::Value& v, const char* what) {
  const at::Tensor& t = T(v);
  if (!at::isIntegralType(t.scalar_type(), /*includeBool=*/false))
    throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected an integer index tensor (int64/int32/uint8), got " + DTypeName(t.scalar_type()));
  return t.scalar_type() == at::kLong ? t : t.to(at::kLong);
}

at::Scalar Num(const Napi::Value& v) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  double d = v.As<Napi::Number>().DoubleValue();
  // Whole numbers are integral scalars, as Python ints are: int64 tensor + 1 stays int64.
  if (std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

at::Tensor TorScalar(const Napi::Value& v, const at::Tensor& like) {
  if (v.IsExternal()) return T(v);
  return at::scalar_tensor(Num(v), like.options().requires_grad(false));
}

std::string CleanMessage(const char* what) {
  std::string s(what ? what : "unknown error");
  // libtorch appends "Exception raised from ..." lines; keep the message itself.
  auto pos = s.find("\nException raised from");
  if (pos != std::string::npos) s = s.substr(0, pos);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace llp
