// Elementwise arithmetic and math, comparisons, reductions, matrix products.
#include <functional>
#include <unordered_map>

#include "handle.h"

namespace llp {

using Unary = std::function<at::Tensor(const at::Tensor&)>;
using Binary = std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>;
using BinaryS = std::function<at::Tensor(const at::Tensor&, const at::Scalar&)>;

static const std::unordered_map<std::string, Unary>& UnaryOps() {
  static const std::unordered_map<std::string, Unary> m = {
      {"neg", [](const at::Tensor& a) { return at::neg(a); }},
      {"exp", [](const at::Tensor& a) { return at::exp(a); }},
      {"log", [](const at::Tensor& a) { return at::log(a); }},
      {"log1p", [](const at::Tensor& a) { return at::log1p(a); }},
      {"sqrt", [](const at::Tensor& a) { return at::sqrt(a); }},
      {"rsqrt", [](const at::Tensor& a) { return at::rsqrt(a); }},
      {"abs", [](const at::Tensor& a) { return at::abs(a); }},
      {"square", [](const at::Tensor& a) { return at::square(a); }},
      {"relu", [](const at::Tensor& a) { return at::relu(a); }},
      {"sigmoid", [](const at::Tensor& a) { return at::sigmoid(a); }},
      {"tanh", [](const at::Tensor& a) { return at::tanh(a); }},
      {"floor", [](const at::Tensor& a) { return at::floor(a); }},
      {"ceil", [](const at::Tensor& a) { return at::ceil(a); }},
      {"round", [](const at::Tensor& a) { return at::round(a); }},
      {"sign", [](const at::Tensor& a) { return at::sign(a); }},
      {"reciprocal", [](const at::Tensor& a) { return at::reciprocal(a); }},
      {"logicalNot", [](const at::Tensor& a) { return at::logical_not(a); }},
      {"isfinite", [](const at::Tensor& a) { return at::isfinite(a); }},
      {"isnan", [](const at::Tensor& a) { return at::isnan(a); }},
  };
  return m;
}

static const std::unordered_map<std::string, std::pair<Binary, BinaryS>>& BinaryOps() {
  static const std::unordered_map<std::string, std::pair<Binary, BinaryS>> m = {
      {"add", {[](auto& a, auto& b) { return at::add(a, b); }, [](auto& a, auto& s) { return at::add(a, s); }}},
      {"sub", {[](auto& a, auto& b) { return at::sub(a, b); }, [](auto& a, auto& s) { return at::sub(a, s); }}},
      {"mul", {[](auto& a, auto& b) { return at::mul(a, b); }, [](auto& a, auto& s) { return at::mul(a, s); }}},
      {"div", {[](auto& a, auto& b) { return at::div(a, b); }, [](auto& a, auto& s) { return at::div(a, s); }}},
      {"pow", {[](auto& a, auto& b) { return at::pow(a, b); }, [](auto& a, auto& s) { return at::pow(a, s); }}},
      {"remainder", {[](auto& a, auto& b) { return at::remainder(a, b); }, [](auto& a, auto& s) { return at::remainder(a, s); }}},
      {"maximum", {[](auto& a, auto& b) { return at::maximum(a, b); }, [](auto& a, auto& s) { return at::clamp_min(a, s); }}},
      {"minimum", {[](auto& a, auto& b) { return at::minimum(a, b); }, [](auto& a, auto& s) { return at::clamp_max(a, s); }}},
      {"eq", {[](auto& a, auto& b) { return at::eq(a, b); }, [](auto& a, auto& s) { return at::eq(a, s); }}},
      {"ne", {[](auto& a, auto& b) { return at::ne(a, b); }, [](auto& a, auto& s) { return at::ne(a, s); }}},
      {"lt", {[](auto& a, auto& b) { return at::lt(a, b); }, [](auto& a, auto& s) { return at::lt(a, s); }}},
      {"le", {[](auto& a, auto& b) { return at::le(a, b); }, [](auto& a, auto& s) { return at::le(a, s); }}},
      {"gt", {[](auto& a, auto& b) { return at::gt(a, b); }, [](auto& a, auto& s) { return at::gt(a, s); }}},
      {"ge", {[](auto& a, auto& b) { return at::ge(a, b); }, [](auto& a, auto& s) { return at::ge(a, s); }}},
      {"logicalAnd", {[](auto& a, auto& b) { return at::logical_and(a, b); }, nullptr}},
      {"logicalOr", {[](auto& a, auto& b) { return at::logical_or(a, b); }, nullptr}},
  };
  return m;
}

// unary(name, t)
LLP_FN(UnaryOp) {
  LLP_BODY(
    auto name = info[0].As<Napi::String>().Utf8Value();
    auto it = UnaryOps().find(name);
    if (it == UnaryOps().end()) throw Napi::Error::New(info.Env(), "unknown unary op " + name);
    return Wrap(info.Env(), it->second(T(info[1])));)
}

// binary(name, a, b): b is a tensor handle or a number
LLP_FN(BinaryOp) {
  LLP_BODY(
    auto name = info[0].As<Napi::String>().Utf8Value();
    auto it = BinaryOps().find(name);
    if (it == BinaryOps().end()) throw Napi::Error::New(info.Env(), "unknown binary op " + name);
    const at::Tensor& a = T(info[1]);
    if (info[2].IsExternal()) return Wrap(info.Env(), it->second.first(a, T(info[2])));
    if (!it->second.second) return Wrap(info.Env(), it->second.first(a, TorScalar(info[2], a)));
    return Wrap(info.Env(), it->second.second(a, Num(info[2])));)
}

// inplace(name, t, other): add_/sub_/mul_/div_ without recording autograd (state updates)
LLP_FN(InplaceOp) {
  LLP_BODY(
    at::NoGradGuard g;
    auto name = info[0].As<Napi::String>().Utf8Value();
    at::Tensor a = T(info[1]);
    bool s = !info[2].IsExternal();
    if (name == "add") s ? a.add_(Num(info[2])) : a.add_(T(info[2]));
    else if (name == "sub") s ? a.sub_(Num(info[2])) : a.sub_(T(info[2]));
    else if (name == "mul") s ? a.mul_(Num(info[2])) : a.mul_(T(info[2]));
    else if (name == "div") s ? a.div_(Num(info[2])) : a.div_(T(info[2]));
    else throw Napi::Error::New(info.Env(), "unknown in-place op " + name);
    return info.Env().Undefined();)
}

// addScaled(a, b, alpha) = a + alpha * b
LLP_FN(AddScaled) { LLP_BODY(return Wrap(info.Env(), at::add(T(info[0]), T(info[1]), Num(info[2])));) }

LLP_FN(Clamp) {  // clamp(t, min|null, max|null)
  LLP_BODY(
    c10::optional<at::Scalar> lo, hi;
    if (info[1].IsNumber()) lo = Num(info[1]);
    if (info[2].IsNumber()) hi = Num(info[2]);
    return Wrap(info.Env(), at::clamp(T(info[0]), lo, hi));)
}

LLP_FN(Where) {  // where(cond, a, b): a/b tensors or numbers
  LLP_BODY(
    const at::Tensor& c = T(info[0]);
    at::Tensor ref = info[1].IsExternal() ? T(info[1]) : (info[2].IsExternal() ? T(info[2]) : at::empty({}, at::kFloat));
    return Wrap(info.Env(), at::where(c, TorScalar(info[1], ref), TorScalar(info[2], ref)));)
}

// reduce(name, t, dims|null, keepdim)
LLP_FN(Reduce) {
  LLP_BODY(
    auto name = info[0].As<Napi::String>().Utf8Value();
    const at::Tensor& t = T(info[1]);
    bool all = info[2].IsNull() || info[2].IsUndefined();
    std::vector<int64_t> dims = all ? std::vector<int64_t>{} : Ints(info[2]);
    bool keep = info[3].ToBoolean().Value();
    auto env = info.Env();
    if (name == "sum") return Wrap(env, all ? t.sum() : t.sum(dims, keep));
    if (name == "mean") return Wrap(env, all ? t.mean() : t.mean(dims, keep));
    if (name == "prod") return Wrap(env, all ? t.prod() : t.prod(dims.at(0), keep));
    if (name == "logsumexp") {
      if (all) { std::vector<int64_t> d(t.dim()); for (int64_t i = 0; i < t.dim(); i++) d[i] = i; return Wrap(env, at::logsumexp(t, d, keep)); }
      return Wrap(env, at::logsumexp(t, dims, keep));
    }
    if (name == "amax") return Wrap(env, all ? t.max() : at::amax(t, dims, keep));
    if (name == "amin") return Wrap(env, all ? t.min() : at::amin(t, dims, keep));
    if (name == "argmax") return Wrap(env, all ? t.argmax() : t.argmax(dims.at(0), keep));
    if (name == "argmin") return Wrap(env, all ? t.argmin() : t.argmin(dims.at(0), keep));
    if (name == "var") return Wrap(env, all ? t.var(false) : t.var(dims, false, keep));
    if (name == "std") return Wrap(env, all ? t.std(false) : t.std(dims, false, keep));
    if (name == "any") return Wrap(env, all ? t.any() : t.any(dims.at(0), keep));
    if (name == "all") return Wrap(env, all ? t.all() : t.all(dims.at(0), keep));
    throw Napi::Error::New(env, "unknown reduction " + name);)
}

// maxDim(t, dim, keepdim) -> [values, indices]
LLP_FN(MaxDim) {
  LLP_BODY(
    auto r = at::max(T(info[0]), info[1].As<Napi::Number>().Int64Value(), info[2].ToBoolean().Value());
    auto arr = Napi::Array::New(info.Env(), 2);
    arr.Set(0u, Wrap(info.Env(), std::get<0>(r)));
    arr.Set(1u, Wrap(info.Env(), std::get<1>(r)));
    return arr;)
}

LLP_FN(Matmul) { LLP_BODY(return Wrap(info.Env(), at::matmul(T(info[0]), T(info[1])));) }
LLP_FN(Mm) { LLP_BODY(return Wrap(info.Env(), at::mm(T(info[0]), T(info[1])));) }
LLP_FN(Bmm) { LLP_BODY(return Wrap(info.Env(), at::bmm(T(info[0]), T(info[1])));) }
LLP_FN(Linear) {  // linear(x, weight, bias|null)
  LLP_BODY(return Wrap(info.Env(), at::linear(T(info[0]), T(info[1]), OptT(info[2])));)
}
LLP_FN(Cumsum) { LLP_BODY(return Wrap(info.Env(), at::cumsum(T(info[0]), info[1].As<Napi::Number>().Int64Value()));) }
LLP_FN(AllClose) {
  LLP_BODY(return Napi::Boolean::New(info.Env(), at::allclose(T(info[0]), T(info[1]),
      info[2].As<Napi::Number>().DoubleValue(), info[3].As<Napi::Number>().DoubleValue()));)
}

void InitMath(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, UnaryOp); LLP_EXPORT(e, BinaryOp); LLP_EXPORT(e, InplaceOp); LLP_EXPORT(e, AddScaled);
  LLP_EXPORT(e, Clamp); LLP_EXPORT(e, Where); LLP_EXPORT(e, Reduce); LLP_EXPORT(e, MaxDim);
  LLP_EXPORT(e, Matmul); LLP_EXPORT(e, Mm); LLP_EXPORT(e, Bmm); LLP_EXPORT(e, Linear);
  LLP_EXPORT(e, Cumsum); LLP_EXPORT(e, AllClose);
}

}  // namespace llp
