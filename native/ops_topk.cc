// Blocked "top-k of dot products" (issue 26): for each query q_a (row of Q [nq, D]) the k keys
// k_j with the highest score s(a, j) = (q_a . k_j) / tau - bias_j, merged into a running top-k that
// the caller holds. Keys may come in blocks (a bank read from a file block by block): each call
// merges one block, `offset` giving the block's first row. No call holds more than a
// [qTile, kTile] tile of scores per thread, whatever nq and the number of keys are.
//
// The running state is two tensors, values [nq, k] float32 and indices [nq, k] int64, each row
// sorted best first; an empty slot is (-inf, -1). "Best" is the higher score, and on equal
// scores the lower key index, so the result is deterministic whatever the blocking.
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <utility>
#include <vector>

#include "handle.h"

namespace llp {

using Entry = std::pair<float, int64_t>;  // (score, key index)
static inline bool Better(const Entry& a, const Entry& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// The per-element work, built for AVX-512, AVX2 and plain x86-64 and picked at load time
// (target_clones), with -O3 so that the loops vectorise whatever the addon's flags are.
constexpr int64_t kChunk = 64;

#pragma GCC push_options
#pragma GCC optimize("O3")
// row <- (row / tau) - bias, rounded as ATen's div and sub round them
__attribute__((target_clones("avx512f", "avx2", "default"))) static void Scores(float* __restrict row, int64_t n, float tau,
                                                                                 const float* __restrict bias) {
  if (tau != 1.0f)
    for (int64_t c = 0; c < n; ++c) row[c] = row[c] / tau;
  if (bias != nullptr)
    for (int64_t c = 0; c < n; ++c) row[c] = row[c] - bias[c];
}
// whether any of row[0..n) is >= thr
__attribute__((target_clones("avx512f", "avx2", "default"))) static bool AnyAtLeast(const float* __restrict row, int64_t n, float thr) {
  int any = 0;
  for (int64_t c = 0; c < n; ++c) any |= row[c] >= thr;
  return any != 0;
}
#pragma GCC pop_options

struct TopkArgs {
  at::Tensor q, keys;      // [nq, D], [nk, D] float32 contiguous
  float tau;               // scores are dot / tau (1 = raw dot products)
  const float* bias;       // [nk] subtracted from the scores, or null
  int64_t offset;          // index of keys' first row in the whole key set
  float* vals;             // [nq, k] running state (in/out)
  int64_t* idx;            // [nq, k]
  int64_t k, qTile, kTile;
};

// Scans keys [cBegin, cEnd) for the queries of rows [r0, r0 + rows) into their heaps (worst entry
// at the front), one [rows, kTile] tile of dot products at a time; buf holds one tile.
static void ScanKeys(const TopkArgs& a, int64_t r0, int64_t rows, int64_t cBegin, int64_t cEnd, std::vector<std::vector<Entry>>& heaps,
                     at::Tensor& buf) {
  const int64_t k = a.k;
  const at::Tensor qs = a.q.slice(0, r0, r0 + rows);
  for (int64_t c0 = cBegin; c0 < cEnd; c0 += a.kTile) {
    const int64_t c1 = std::min(cEnd, c0 + a.kTile), cols = c1 - c0;
    at::Tensor s = buf.narrow(0, 0, rows * cols).view({rows, cols});
    at::mm_out(s, qs, a.keys.slice(0, c0, c1).t());  // [rows, cols] dot products
    float* S = s.data_ptr<float>();
    for (int64_t r = 0; r < rows; ++r) {
      auto& h = heaps[static_cast<size_t>(r)];
      float* row = S + r * cols;
      Scores(row, cols, a.tau, a.bias == nullptr ? nullptr : a.bias + c0);
      float thr = static_cast<int64_t>(h.size()) == k ? h.front().first : -std::numeric_limits<float>::infinity();
      for (int64_t c = 0; c < cols; ++c) {
        // most chunks of a row hold nothing above the k-th best: one vector test skips them
        if (c % kChunk == 0 && static_cast<int64_t>(h.size()) == k && !AnyAtLeast(row + c, std::min(kChunk, cols - c), thr)) {
          c += kChunk - 1;
          continue;
        }
        const float v = row[c];
        if (v < thr) continue;
        const Entry e(v, a.offset + c0 + c);
        if (static_cast<int64_t>(h.size()) < k) {
          h.push_back(e);
          std::push_heap(h.begin(), h.end(), Better);
        } else if (Better(e, h.front())) {
          std::pop_heap(h.begin(), h.end(), Better);
          h.back() = e;
          std::push_heap(h.begin(), h.end(), Better);
        } else {
          continue;
        }
        if (static_cast<int64_t>(h.size()) == k) thr = h.front().first;
      }
    }
  }
}

// The running state of query row i as entries (filled slots only).
static void LoadRow(const TopkArgs& a, int64_t i, std::vector<Entry>& h) {
  for (int64_t j = 0; j < a.k; ++j) {
    const int64_t id = a.idx[i * a.k + j];
    if (id >= 0) h.emplace_back(a.vals[i * a.k + j], id);
  }
}

// Writes the best k of h (sorted best first) as query row i's state; unfilled slots are (-inf, -1).
static void StoreRow(const TopkArgs& a, int64_t i, std::vector<Entry>& h) {
  std::sort(h.begin(), h.end(), Better);
  for (int64_t j = 0; j < a.k; ++j) {
    const bool have = j < static_cast<int64_t>(h.size());
    a.vals[i * a.k + j] = have ? h[static_cast<size_t>(j)].first : -std::numeric_limits<float>::infinity();
    a.idx[i * a.k + j] = have ? h[static_cast<size_t>(j)].second : -1;
  }
}

static void MergeBlock(const TopkArgs& a) {
  const int64_t nq = a.q.size(0), nk = a.keys.size(0), k = a.k;
  if (nq == 0 || nk == 0) return;
  const int64_t tiles = (nq + a.qTile - 1) / a.qTile;
  const int64_t keyTiles = (nk + a.kTile - 1) / a.kTile;
  // Few query tiles (few labelled points in the density pass) would leave threads idle: the keys
  // are then split into parts too, each scanned from an empty heap, and the parts merged per query.
  // The tiles of dot products are the same either way, so is the result.
  const int64_t want = 2 * static_cast<int64_t>(at::get_num_threads());
  const int64_t parts = tiles >= want ? 1 : std::min(keyTiles, (want + tiles - 1) / tiles);
  const int64_t perPart = ((keyTiles + parts - 1) / parts) * a.kTile;  // keys per part, whole tiles
  std::vector<std::vector<Entry>> partial(static_cast<size_t>(parts > 1 ? parts * nq : 0));
  at::parallel_for(0, tiles * parts, 1, [&](int64_t i0, int64_t i1) {
    at::Tensor buf = at::empty({a.qTile * a.kTile}, a.q.options());
    std::vector<std::vector<Entry>> heaps(static_cast<size_t>(a.qTile));
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t t = item / parts, p = item % parts;
      const int64_t r0 = t * a.qTile, rows = std::min(nq, r0 + a.qTile) - r0;
      for (int64_t r = 0; r < rows; ++r) {
        auto& h = heaps[static_cast<size_t>(r)];
        h.clear();
        if (parts == 1) LoadRow(a, r0 + r, h);  // split parts start empty; the state joins at the merge
        std::make_heap(h.begin(), h.end(), Better);
      }
      ScanKeys(a, r0, rows, p * perPart, std::min(nk, (p + 1) * perPart), heaps, buf);
      for (int64_t r = 0; r < rows; ++r) {
        if (parts == 1) StoreRow(a, r0 + r, heaps[static_cast<size_t>(r)]);
        else partial[static_cast<size_t>(p * nq + r0 + r)] = heaps[static_cast<size_t>(r)];
      }
    }
  });
  if (parts == 1) return;
  at::parallel_for(0, nq, 64, [&](int64_t q0, int64_t q1) {
    std::vector<Entry> all;
    for (int64_t i = q0; i < q1; ++i) {
      all.clear();
      LoadRow(a, i, all);
      for (int64_t p = 0; p < parts; ++p) {
        const auto& h = partial[static_cast<size_t>(p * nq + i)];
        all.insert(all.end(), h.begin(), h.end());
      }
      StoreRow(a, i, all);
    }
  });
  (void)k;
}

// topkDotMerge_(queries, keys, tau, bias|null, offset, values, indices, qTile, kTile)
LLP_FN(TopkDotMerge_) {
  LLP_BODY(
    const at::Tensor& q = T(info[0]);
    const at::Tensor& keys = T(info[1]);
    const double tau = info[2].As<Napi::Number>().DoubleValue();
    c10::optional<at::Tensor> bias = OptT(info[3]);
    const int64_t offset = info[4].As<Napi::Number>().Int64Value();
    const at::Tensor& vals = T(info[5]);
    const at::Tensor& idx = T(info[6]);
    const int64_t qTile = info[7].As<Napi::Number>().Int64Value();
    const int64_t kTile = info[8].As<Napi::Number>().Int64Value();
    auto f32 = [](const at::Tensor& t, const char* what, int64_t dims) {
      TORCH_CHECK(t.scalar_type() == at::kFloat && t.dim() == dims && t.is_contiguous(),
                  "topkDotMerge_: ", what, " must be a contiguous float32 tensor of ", dims, " dims, got ", t.sizes(), " ", t.scalar_type());
    };
    f32(q, "queries", 2); f32(keys, "keys", 2); f32(vals, "values", 2);
    TORCH_CHECK(idx.scalar_type() == at::kLong && idx.is_contiguous() && idx.sizes() == vals.sizes(),
                "topkDotMerge_: indices must be a contiguous int64 tensor shaped like values ", vals.sizes());
    TORCH_CHECK(q.size(1) == keys.size(1), "topkDotMerge_: queries ", q.sizes(), " and keys ", keys.sizes(), " differ in D");
    TORCH_CHECK(vals.size(0) == q.size(0) && vals.size(1) >= 1, "topkDotMerge_: values ", vals.sizes(), " must be [", q.size(0), ", k >= 1]");
    TORCH_CHECK(tau > 0, "topkDotMerge_: tau must be > 0");
    TORCH_CHECK(qTile >= 1 && kTile >= 1, "topkDotMerge_: tiles must be >= 1");
    if (bias) {
      f32(*bias, "bias", 1);
      TORCH_CHECK(bias->size(0) == keys.size(0), "topkDotMerge_: bias ", bias->sizes(), " must be [", keys.size(0), "]");
    }
    at::NoGradGuard ng;
    TopkArgs a{q, keys, static_cast<float>(tau), bias ? bias->data_ptr<float>() : nullptr, offset,
               vals.data_ptr<float>(), idx.data_ptr<int64_t>(), vals.size(1), qTile, kTile};
    MergeBlock(a);
    return info.Env().Undefined();)
}

void InitTopk(Napi::Env env, Napi::Object e) { LLP_EXPORT(e, TopkDotMerge_); }

}  // namespace llp
