// Tensor and generator handles shared by every op family.
// A JS Tensor owns one Handle through a Napi::External. dispose() frees the storage
// at once (the deterministic path); the External's finalizer is only a safety net.
#pragma once
#include <ATen/ATen.h>
#include <napi.h>

#include <atomic>
#include <string>
#include <vector>

namespace llp {

struct Handle {
  at::Tensor t;
  int64_t bytes = 0;  // reported to V8 as external memory while alive
  bool freed = false;
};

extern std::atomic<int64_t> g_live;  // tensors neither disposed nor collected

Napi::Value Wrap(Napi::Env env, at::Tensor t);
Handle* GetHandle(const Napi::Value& v);
const at::Tensor& T(const Napi::Value& v);                 // throws on disposed
std::vector<at::Tensor> Ts(const Napi::Value& v);          // array of handles
std::vector<int64_t> Ints(const Napi::Value& v);           // number[] -> int64[]
c10::optional<at::Tensor> OptT(const Napi::Value& v);      // null/undefined -> nullopt
at::ScalarType DType(const Napi::Value& v);                // "float32" ... -> ScalarType
std::string DTypeName(at::ScalarType s);
at::Generator& Gen(const Napi::Value& v);
c10::optional<at::Generator> OptGen(const Napi::Value& v);
Napi::Value WrapGen(Napi::Env env, at::Generator g);
at::Tensor Idx(const Napi::Value& v, const char* what);      // integer index tensor -> int64; float is an error
at::Scalar Num(const Napi::Value& v);                      // JS number/boolean -> Scalar
at::Tensor TorScalar(const Napi::Value& v, const at::Tensor& like);  // tensor handle or number

// Every exported function goes through Guard: libtorch errors become JS Errors with
// libtorch's own message (first line, no C++ backtrace); the process never aborts.
std::string CleanMessage(const char* what);
template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), CleanMessage(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), CleanMessage(e.what()));
  }
}

#define LLP_FN(name) static Napi::Value name(const Napi::CallbackInfo& info)
#define LLP_BODY(...) return Guard(info, [&]() -> Napi::Value { __VA_ARGS__ });
#define LLP_EXPORT(obj, name) obj.Set(#name, Napi::Function::New(obj.Env(), name, #name))

void InitTensor(Napi::Env env, Napi::Object exports);
void InitMath(Napi::Env env, Napi::Object exports);
void InitNN(Napi::Env env, Napi::Object exports);
void InitIndex(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitOptim(Napi::Env env, Napi::Object exports);
void InitRandom(Napi::Env env, Napi::Object exports);
void InitTopk(Napi::Env env, Napi::Object exports);
void InitDist(Napi::Env env, Napi::Object exports);

}  // namespace llp
