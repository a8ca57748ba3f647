// PyTorch's own distributed engine (c10d: TCPStore + ProcessGroupGloo, as torchrun uses) for llp's
// processes: a group from rank / world size / master address and port, and the collectives
// training and propagation need. Every call waits at most the group's timeout; a rank that does
// not answer (dead, unreachable, a mismatched world) becomes a JS Error naming what timed out.
// Joining may take up to about twice the timeout (the store's wait, then Gloo's rendezvous).
// Debian's libtorch is built with Gloo; its headers show the Gloo group only under this macro.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include "handle.h"

namespace llp {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
  int rank = 0, size = 1;
  // after a failed collective Gloo may still write into its tensors and the ranks' operation
  // counts may differ: the group is not used again
  std::string broken;
  double syncBatchNormSeconds = 0;  // inside SyncBatchNorm's all-reduces, forward and backward
};

static Group* G(const Napi::Value& v) {
  if (!v.IsExternal()) throw Napi::TypeError::New(v.Env(), "expected a process group handle");
  Group* g = v.As<Napi::External<Group>>().Data();
  if (!g->pg) throw Napi::Error::New(v.Env(), "the process group was destroyed");
  if (!g->broken.empty()) throw Napi::Error::New(v.Env(), "the process group failed earlier (" + g->broken + "); destroy it and join a new one");
  return g;
}

// Gloo reads a tensor's memory as numel elements from data_ptr: a non-contiguous view (a column, an
// expand) is copied to a dense tensor first, and the result copied back into it.
static at::Tensor Dense(const at::Tensor& t) { return t.is_contiguous() ? t : t.contiguous(); }

// Waits for a collective; a timeout or a peer's failure becomes an Error naming the collective.
static void Await(const Napi::Env& env, Group* g, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(g->timeout);  // throws on a timeout or a peer's failure
  } catch (const std::exception& e) {
    const std::string msg = std::string("distributed ") + what + " on rank " + std::to_string(g->rank) + " of " + std::to_string(g->size) +
                            " failed: " + CleanMessage(e.what());
    g->broken = msg;
    throw Napi::Error::New(env, msg);
  }
}

// distInit(rank, worldSize, masterAddr, masterPort, timeoutMs) -> group. Rank 0 serves the store.
LLP_FN(DistInit) {
  LLP_BODY(
    const int rank = info[0].As<Napi::Number>().Int32Value();
    const int size = info[1].As<Napi::Number>().Int32Value();
    const std::string host = info[2].As<Napi::String>().Utf8Value();
    const int port = info[3].As<Napi::Number>().Int32Value();
    const int64_t timeoutMs = info[4].As<Napi::Number>().Int64Value();
    if (timeoutMs < 1) throw Napi::RangeError::New(info.Env(), "distInit: the timeout must be >= 1 ms (0 would wait forever)");
    const auto timeout = std::chrono::milliseconds(timeoutMs);
    if (size < 1 || rank < 0 || rank >= size) throw Napi::RangeError::New(info.Env(), "distInit: rank " + std::to_string(rank) + " is not in 0.." + std::to_string(size - 1));
    if (port < 1 || port > 65535) throw Napi::RangeError::New(info.Env(), "distInit: port must be 1..65535, got " + std::to_string(port));
    auto* g = new Group();
    g->timeout = timeout;
    g->rank = rank;
    g->size = size;
    try {
      c10d::TCPStoreOptions o;
      o.port = static_cast<std::uint16_t>(port);
      o.isServer = rank == 0;
      o.numWorkers = static_cast<std::size_t>(size);
      o.waitWorkers = true;
      o.timeout = timeout;
      g->store = c10::make_intrusive<c10d::TCPStore>(host, o);
      // every rank says which world it was started for, and a mismatch is named here: inside
      // Gloo's rendezvous it would only be a size check on an address buffer
      const auto text = [](int v) { const std::string t = std::to_string(v); return std::vector<uint8_t>(t.begin(), t.end()); };
      g->store->set("llp/world/" + std::to_string(rank), text(size));
      // rank 0 compares every rank's; the others compare rank 0's and say they have read it, so
      // that rank 0 keeps its store up until each of them can name a mismatch too
      std::string mismatch;
      for (int r = rank == 0 ? 1 : 0; r < (rank == 0 ? size : 1); ++r) {
        const auto v = g->store->get("llp/world/" + std::to_string(r));
        const std::string theirs(v.begin(), v.end());
        if (theirs != std::to_string(size) && mismatch.empty())
          mismatch = "the ranks disagree on the world size: rank " + std::to_string(r) + " was started with WORLD_SIZE=" + theirs + ", rank " +
                     std::to_string(rank) + " with " + std::to_string(size);
      }
      if (rank != 0) g->store->set("llp/world/read/" + std::to_string(rank), text(1));
      else {
        std::vector<std::string> read;
        for (int r = 1; r < size; ++r) read.push_back("llp/world/read/" + std::to_string(r));
        g->store->wait(read);
      }
      if (!mismatch.empty()) throw std::runtime_error(mismatch);
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // this rank's own address: GLOO_SOCKET_IFNAME's interface (as PyTorch reads it), loopback when
      // the store is on loopback (one host), else the address this host's name resolves to
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      const bool loopback = host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
      opts->devices.push_back(ifname != nullptr && *ifname != 0 ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                              : loopback                        ? c10d::ProcessGroupGloo::createDeviceForHostname(host)
                                                                : c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("llp", g->store), rank, size, opts);
    } catch (const std::exception& e) {
      delete g;
      const std::string doing = rank == 0 ? " (serving the store, waiting for all " + std::to_string(size) + " ranks to join)"
                                          : " (connecting to rank 0's store)";
      throw Napi::Error::New(info.Env(), "distributed init of rank " + std::to_string(rank) + " of " + std::to_string(size) + " at " + host + ":" +
                                             std::to_string(port) + " failed" + doing + ": " + CleanMessage(e.what()));
    }
    return Napi::External<Group>::New(info.Env(), g, [](Napi::Env, Group* p) { delete p; });)
}

// Runs an in-place collective on t: on a dense copy when t is a view, copied back after.
template <typename Launch>
static void InPlace(const Napi::Env& env, Group* g, const at::Tensor& t, const char* what, Launch launch) {
  at::Tensor d = Dense(t);
  std::vector<at::Tensor> ts{d};
  Await(env, g, launch(ts), what);
  if (!d.is_same(t)) t.copy_(d);
}

// distAllReduce(group, tensor, "sum"|"max"|"min"): in place on every rank
LLP_FN(DistAllReduce) {
  LLP_BODY(
    Group* g = G(info[0]);
    const at::Tensor& t = T(info[1]);
    const std::string op = info[2].As<Napi::String>().Utf8Value();
    if (op != "sum" && op != "max" && op != "min") throw Napi::RangeError::New(info.Env(), "distAllReduce: op must be sum, max or min, got " + op);
    c10d::AllreduceOptions o;
    o.reduceOp = op == "max" ? c10d::ReduceOp::MAX : op == "min" ? c10d::ReduceOp::MIN : c10d::ReduceOp::SUM;
    o.timeout = g->timeout;
    InPlace(info.Env(), g, t, "all-reduce", [&](std::vector<at::Tensor>& ts) { return g->pg->allreduce(ts, o); });
    return info.Env().Undefined();)
}

// distAllGather(group, tensor) -> [size * rows, ...]: every rank's tensor, in rank order. The ranks'
// shapes and dtypes are compared first (a mismatch inside Gloo ends the process, not the call).
LLP_FN(DistAllGather) {
  LLP_BODY(
    Group* g = G(info[0]);
    at::Tensor t = T(info[1]).contiguous();
    if (t.dim() == 0) t = t.reshape({1});
    constexpr int64_t kHeader = 10;  // dtype, dim, up to 8 sizes
    TORCH_CHECK(t.dim() <= kHeader - 2, "distAllGather: at most ", kHeader - 2, " dims, got ", t.dim());
    at::Tensor head = at::full({kHeader}, -1, at::kLong);
    head[0] = static_cast<int64_t>(t.scalar_type());
    head[1] = t.dim();
    for (int64_t i = 0; i < t.dim(); ++i) head[2 + i] = t.size(i);
    std::vector<std::vector<at::Tensor>> heads(1);
    for (int r = 0; r < g->size; ++r) heads[0].push_back(at::empty_like(head));
    std::vector<at::Tensor> hin{head};
    c10d::AllgatherOptions o;
    o.timeout = g->timeout;
    Await(info.Env(), g, g->pg->allgather(heads, hin, o), "all-gather (shapes)");
    for (int r = 0; r < g->size; ++r)
      if (!heads[0][static_cast<size_t>(r)].equal(head))
        throw Napi::Error::New(info.Env(), "distAllGather: rank " + std::to_string(r) + " gives a tensor of another shape or dtype than rank " +
                                               std::to_string(g->rank) + "'s " + c10::str(t.sizes()) + " " + c10::toString(t.scalar_type()));
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < g->size; ++r) out[0].push_back(at::empty_like(t));
    std::vector<at::Tensor> in{t};
    Await(info.Env(), g, g->pg->allgather(out, in, o), "all-gather");
    return Wrap(info.Env(), at::cat(out[0], 0));)
}

// distBroadcast(group, tensor, root): in place
LLP_FN(DistBroadcast) {
  LLP_BODY(
    Group* g = G(info[0]);
    const at::Tensor& t = T(info[1]);
    c10d::BroadcastOptions o;
    o.rootRank = info[2].As<Napi::Number>().Int32Value();
    o.timeout = g->timeout;
    InPlace(info.Env(), g, t, "broadcast", [&](std::vector<at::Tensor>& ts) { return g->pg->broadcast(ts, o); });
    return info.Env().Undefined();)
}

LLP_FN(DistBarrier) {
  LLP_BODY(
    Group* g = G(info[0]);
    c10d::BarrierOptions o;
    o.timeout = g->timeout;
    Await(info.Env(), g, g->pg->barrier(o), "barrier");
    return info.Env().Undefined();)
}

// distDestroy(group): closes the group now (the GC would, later)
LLP_FN(DistDestroy) {
  LLP_BODY(
    Group* g = info[0].As<Napi::External<Group>>().Data();
    g->pg.reset();
    g->store.reset();
    return info.Env().Undefined();)
}

// ---- Synchronised batch norm (PyTorch's SyncBatchNorm, on CPU): in training, each BatchNorm
// layer's mean and variance are those of the global batch (all ranks' rows), so P processes on
// B/P rows each compute what one process computes on B. One all-reduce of [sum x, sum x^2, count]
// per channel in the forward pass, one of [sum dy, sum dy*xhat] in the backward pass, both
// in float64. weight and bias get the rank's own gradient (averaged with the others' afterwards,
// as DDP does); x gets the gradient of the sum of the ranks' losses.

// A collective inside autograd: no JS environment here, so a failure is a C++ exception that
// backward() passes on (and the group is marked broken, as Await does).
static void AllReduceSum(Group* g, at::Tensor& t, const char* what) {
  if (!g->pg) throw std::runtime_error(std::string("distributed ") + what + ": the process group was destroyed");
  if (!g->broken.empty()) throw std::runtime_error("the process group failed earlier (" + g->broken + ")");
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions o;
  o.timeout = g->timeout;
  const auto t0 = std::chrono::steady_clock::now();
  try {
    g->pg->allreduce(ts, o)->wait(g->timeout);
    g->syncBatchNormSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } catch (const std::exception& e) {
    g->broken = std::string("distributed ") + what + " on rank " + std::to_string(g->rank) + " of " + std::to_string(g->size) +
                " failed: " + CleanMessage(e.what());
    throw std::runtime_error(g->broken);
  }
}

// the dims a channel's statistics run over: all but dim 1
static std::vector<int64_t> ReduceDims(const at::Tensor& x) {
  std::vector<int64_t> d{0};
  for (int64_t i = 2; i < x.dim(); ++i) d.push_back(i);
  return d;
}
static std::vector<int64_t> ChannelShape(const at::Tensor& x) {
  std::vector<int64_t> s(static_cast<size_t>(x.dim()), 1);
  s[1] = x.size(1);
  return s;
}

struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor runningMean, at::Tensor runningVar, double momentum, double eps, int64_t group) {
    Group* g = reinterpret_cast<Group*>(group);
    const int64_t C = x.size(1);
    const auto dims = ReduceDims(x);
    const at::Tensor xd = x.to(at::kDouble);
    at::Tensor stats = at::cat({xd.sum(dims), xd.square().sum(dims), at::full({1}, static_cast<double>(x.numel() / std::max<int64_t>(C, 1)), at::kDouble)});
    AllReduceSum(g, stats, "batch-norm statistics");
    const double n = stats[2 * C].item<double>();
    TORCH_CHECK(n > 1, "synchronised batch norm: the global batch holds ", n, " values per channel; at least 2 are needed");
    const at::Tensor mean = stats.slice(0, 0, C) / n;                                   // [C]
    const at::Tensor var = (stats.slice(0, C, 2 * C) / n - mean.square()).clamp_min(0);  // [C] biased
    const at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard ng;
      runningMean.mul_(1 - momentum).add_(mean.to(runningMean.scalar_type()), momentum);
      runningVar.mul_(1 - momentum).add_((var * (n / (n - 1))).to(runningVar.scalar_type()), momentum);
    }
    const auto cs = ChannelShape(x);
    const at::Tensor meanF = mean.to(x.scalar_type()), invstdF = invstd.to(x.scalar_type());
    const at::Tensor xhat = (x - meanF.view(cs)) * invstdF.view(cs);
    ctx->save_for_backward({x, weight, meanF, invstdF});
    ctx->saved_data["group"] = group;
    ctx->saved_data["n"] = n;
    return xhat * weight.view(cs) + bias.view(cs);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    Group* g = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    const double n = ctx->saved_data["n"].toDouble();
    const at::Tensor dy = grads[0].contiguous();
    const int64_t C = x.size(1);
    const auto dims = ReduceDims(x);
    const auto cs = ChannelShape(x);
    const at::Tensor xhat = (x - mean.view(cs)) * invstd.view(cs);
    const at::Tensor sumDy = dy.to(at::kDouble).sum(dims), sumDyXhat = (dy.to(at::kDouble) * xhat.to(at::kDouble)).sum(dims);  // [C] local
    at::Tensor global = at::cat({sumDy, sumDyXhat});
    AllReduceSum(g, global, "batch-norm gradient");
    const at::Tensor meanDy = (global.slice(0, 0, C) / n).to(x.scalar_type()), meanDyXhat = (global.slice(0, C, 2 * C) / n).to(x.scalar_type());
    const at::Tensor dx = (dy - meanDy.view(cs) - xhat * meanDyXhat.view(cs)) * (weight * invstd).view(cs);
    return {dx, sumDyXhat.to(weight.scalar_type()), sumDy.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// distSyncBatchNorm(group, x, weight, bias, runningMean, runningVar, momentum, eps) -> y (training mode)
LLP_FN(DistSyncBatchNorm) {
  LLP_BODY(
    Group* g = G(info[0]);
    const at::Tensor& x = T(info[1]);
    TORCH_CHECK(x.dim() >= 2, "synchronised batch norm: expected [B, C, ...], got ", x.sizes());
    const at::Tensor y = SyncBatchNormFn::apply(x, T(info[2]), T(info[3]), T(info[4]), T(info[5]), info[6].As<Napi::Number>().DoubleValue(),
                                                info[7].As<Napi::Number>().DoubleValue(), reinterpret_cast<int64_t>(g));
    return Wrap(info.Env(), y);)
}

// distSyncSeconds(group) -> seconds spent in SyncBatchNorm's all-reduces so far (the backward's
// run inside autograd, where no JS timer reaches)
LLP_FN(DistSyncSeconds) {
  LLP_BODY(return Napi::Number::New(info.Env(), G(info[0])->syncBatchNormSeconds);)
}

void InitDist(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, DistInit); LLP_EXPORT(e, DistAllReduce); LLP_EXPORT(e, DistAllGather);
  LLP_EXPORT(e, DistBroadcast); LLP_EXPORT(e, DistBarrier); LLP_EXPORT(e, DistDestroy);
  LLP_EXPORT(e, DistSyncBatchNorm); LLP_EXPORT(e, DistSyncSeconds);
}

}  // namespace llp
