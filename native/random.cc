// Seeded generators and random ops. Every random op takes an explicit generator.
#include <ATen/CPUGeneratorImpl.h>

#include <cstring>

#include "handle.h"

namespace llp {

static at::TensorOptions O(const Napi::Value& v) {
  return at::TensorOptions().dtype(v.IsString() ? DType(v) : at::kFloat);
}

LLP_FN(NewGenerator) {  // newGenerator(seed)
  LLP_BODY(
    uint64_t seed = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    return WrapGen(info.Env(), at::make_generator<at::CPUGeneratorImpl>(seed));)
}
LLP_FN(GeneratorSeed) {
  LLP_BODY(at::Generator& g = Gen(info[0]); std::lock_guard<std::mutex> l(g.mutex());
           g.set_current_seed(static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value()));
           return info.Env().Undefined();)
}
LLP_FN(GeneratorGetState) {  // -> Uint8Array of the full generator state
  LLP_BODY(
    at::Generator& g = Gen(info[0]);
    at::Tensor s;
    { std::lock_guard<std::mutex> l(g.mutex()); s = g.get_state(); }
    auto buf = Napi::Buffer<uint8_t>::Copy(info.Env(), s.data_ptr<uint8_t>(), s.numel());
    return buf;)
}
LLP_FN(GeneratorSetState) {
  LLP_BODY(
    at::Generator& g = Gen(info[0]);
    auto ta = info[1].As<Napi::Uint8Array>();
    at::Tensor s = at::empty({static_cast<int64_t>(ta.ByteLength())}, at::kByte);
    std::memcpy(s.data_ptr(), ta.Data(), ta.ByteLength());
    { std::lock_guard<std::mutex> l(g.mutex()); g.set_state(s); }
    return info.Env().Undefined();)
}

LLP_FN(Randn) { LLP_BODY(return Wrap(info.Env(), at::randn(Ints(info[0]), OptGen(info[1]), O(info[2])));) }
LLP_FN(Rand) { LLP_BODY(return Wrap(info.Env(), at::rand(Ints(info[0]), OptGen(info[1]), O(info[2])));) }
LLP_FN(Randint) {  // randint(low, high, shape, gen, dtype)
  LLP_BODY(return Wrap(info.Env(), at::randint(info[0].As<Napi::Number>().Int64Value(), info[1].As<Napi::Number>().Int64Value(),
                                               Ints(info[2]), OptGen(info[3]), info[4].IsString() ? O(info[4]) : at::TensorOptions().dtype(at::kLong)));)
}
LLP_FN(Randperm) {
  LLP_BODY(return Wrap(info.Env(), at::randperm(info[0].As<Napi::Number>().Int64Value(), OptGen(info[1]), at::TensorOptions().dtype(at::kLong)));)
}
LLP_FN(Normal_) {  // normal_(t, mean, std, gen)
  LLP_BODY(at::NoGradGuard ng; T(info[0]).normal_(info[1].As<Napi::Number>().DoubleValue(), info[2].As<Napi::Number>().DoubleValue(), OptGen(info[3]));
           return info.Env().Undefined();)
}
LLP_FN(Uniform_) {  // uniform_(t, from, to, gen)
  LLP_BODY(at::NoGradGuard ng; T(info[0]).uniform_(info[1].As<Napi::Number>().DoubleValue(), info[2].As<Napi::Number>().DoubleValue(), OptGen(info[3]));
           return info.Env().Undefined();)
}
LLP_FN(Bernoulli) {  // bernoulli(probs, gen)
  LLP_BODY(return Wrap(info.Env(), at::bernoulli(T(info[0]), OptGen(info[1])));)
}
LLP_FN(Multinomial) {  // multinomial(probs, n, replacement, gen)
  LLP_BODY(return Wrap(info.Env(), at::multinomial(T(info[0]), info[1].As<Napi::Number>().Int64Value(), info[2].ToBoolean().Value(), OptGen(info[3])));)
}

void InitRandom(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, NewGenerator); LLP_EXPORT(e, GeneratorSeed); LLP_EXPORT(e, GeneratorGetState);
  LLP_EXPORT(e, GeneratorSetState); LLP_EXPORT(e, Randn); LLP_EXPORT(e, Rand); LLP_EXPORT(e, Randint);
  LLP_EXPORT(e, Randperm); LLP_EXPORT(e, Normal_); LLP_EXPORT(e, Uniform_); LLP_EXPORT(e, Bernoulli);
  LLP_EXPORT(e, Multinomial);
}

}  // namespace llp
