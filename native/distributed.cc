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

void InitDist(Napi::Env env, Napi::Object e) {
  LLP_EXPORT(e, DistInit); LLP_EXPORT(e, DistAllReduce); LLP_EXPORT(e, DistAllGather);
  LLP_EXPORT(e, DistBroadcast); LLP_EXPORT(e, DistBarrier); LLP_EXPORT(e, DistDestroy);
}

}  // namespace llp
