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
#include <atomic>
#include <functional>
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
constexpr int64_t kChunk = 16;  // one AVX-512 register of scores

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
// m[ch] <- max of row[ch * kChunk .. (ch + 1) * kChunk), the last chunk possibly shorter; n >= 1
__attribute__((target_clones("avx512f", "avx2", "default"))) static void ChunkMax(const float* __restrict row, int64_t n, float* __restrict m) {
  const int64_t full = n / kChunk;
  for (int64_t ch = 0; ch < full; ++ch) {
    const float* x = row + ch * kChunk;
    float best = x[0];
    for (int64_t c = 1; c < kChunk; ++c) best = x[c] > best ? x[c] : best;
    m[ch] = best;
  }
  if (full * kChunk < n) {
    float best = row[full * kChunk];
    for (int64_t c = full * kChunk + 1; c < n; ++c) best = row[c] > best ? row[c] : best;
    m[full] = best;
  }
}
#pragma GCC pop_options

// The k-th largest of m[0..n) (n >= k), kept in a min-heap of the k largest seen (scratch: k floats).
static float KthLargest(const float* m, int64_t n, int64_t k, float* heap) {
  std::copy(m, m + k, heap);
  std::make_heap(heap, heap + k, std::greater<float>());  // heap[0]: the smallest of the k
  for (int64_t i = k; i < n; ++i) {
    if (!(m[i] > heap[0])) continue;
    std::pop_heap(heap, heap + k, std::greater<float>());
    heap[k - 1] = m[i];
    std::push_heap(heap, heap + k, std::greater<float>());
  }
  return heap[0];
}

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
  std::vector<float> cmax(static_cast<size_t>((a.kTile + kChunk - 1) / kChunk)), sel(static_cast<size_t>(a.k));
  for (int64_t c0 = cBegin; c0 < cEnd; c0 += a.kTile) {
    const int64_t c1 = std::min(cEnd, c0 + a.kTile), cols = c1 - c0;
    at::Tensor s = buf.narrow(0, 0, rows * cols).view({rows, cols});
    at::mm_out(s, qs, a.keys.slice(0, c0, c1).t());  // [rows, cols] dot products
    float* S = s.data_ptr<float>();
    for (int64_t r = 0; r < rows; ++r) {
      auto& h = heaps[static_cast<size_t>(r)];
      float* row = S + r * cols;
      Scores(row, cols, a.tau, a.bias == nullptr ? nullptr : a.bias + c0);
      const int64_t chunks = (cols + kChunk - 1) / kChunk;
      ChunkMax(row, cols, cmax.data());
      float thr = static_cast<int64_t>(h.size()) == k ? h.front().first : -std::numeric_limits<float>::infinity();
      // The k-th largest chunk maximum bounds the k-th best score of the tile from below (k chunks
      // hold a score at least that high), so nothing under it can enter the top k. Worth finding
      // when the running threshold would let many chunks through (a fresh heap, a first tile).
      if (chunks >= k) {
        int64_t pass = 0;
        for (int64_t ch = 0; ch < chunks; ++ch) pass += cmax[static_cast<size_t>(ch)] >= thr;
        if (pass > 2 * k) thr = std::max(thr, KthLargest(cmax.data(), chunks, k, sel.data()));
      }
      for (int64_t ch = 0; ch < chunks; ++ch) {
        if (cmax[static_cast<size_t>(ch)] < thr) continue;  // most chunks hold nothing above the threshold
        const int64_t e1 = std::min(cols, (ch + 1) * kChunk);
        for (int64_t c = ch * kChunk; c < e1; ++c) {
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
          if (static_cast<int64_t>(h.size()) == k) thr = std::max(thr, h.front().first);
        }
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
  const int64_t nq = a.q.size(0), nk = a.keys.size(0);
  if (nq == 0 || nk == 0) return;
  const int64_t threads = static_cast<int64_t>(at::get_num_threads());
  int64_t qTile = a.qTile, tiles = (nq + qTile - 1) / qTile;
  const int64_t keyTiles = (nk + a.kTile - 1) / a.kTile;
  // Few query tiles (few labelled points in the density pass) would leave threads idle: the keys
  // are then split into parts too, each scanned from an empty heap, and the parts merged per query;
  // the query tiles are evened out (600 rows: 3 x 200, not 256 + 256 + 88) and the threads take
  // items as they finish, so none waits long for another.
  const int64_t want = 4 * threads;
  const int64_t parts = tiles >= 2 * threads ? 1 : std::min(keyTiles, (want + tiles - 1) / tiles);
  if (parts > 1) qTile = (nq + tiles - 1) / tiles;
  const int64_t perPart = ((keyTiles + parts - 1) / parts) * a.kTile;  // keys per part, whole tiles
  std::vector<std::vector<Entry>> partial(static_cast<size_t>(parts > 1 ? parts * nq : 0));
  std::atomic<int64_t> next{0};
  at::parallel_for(0, std::min(threads, tiles * parts), 1, [&](int64_t, int64_t) {
    at::Tensor buf = at::empty({qTile * a.kTile}, a.q.options());
    std::vector<std::vector<Entry>> heaps(static_cast<size_t>(qTile));
    for (int64_t item = next++; item < tiles * parts; item = next++) {
      const int64_t t = item / parts, p = item % parts;
      const int64_t r0 = t * qTile, rows = std::min(nq, r0 + qTile) - r0;
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
