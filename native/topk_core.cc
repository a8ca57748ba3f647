// Blocked "top-k of dot products" (issue 26), with no libtorch in it: the libtorch addon
// (ops_topk.cc, training and evaluation) and the small kernel addon (topk_addon.cc, which
// `llp propagate` loads instead of libtorch) both compile this file. For each query q_a (row of
// Q [nq, D]) the k keys k_j with the highest score s(a, j) = (q_a . k_j) / tau - bias_j, merged
// into a running top-k that the caller holds. Keys may come in blocks (a bank read from a file
// block by block): each call merges one block, `offset` giving the block's first row. No call holds
// more than a [qTile, kTile] tile of scores per thread, whatever nq and the number of keys are.
//
// The running state is values [nq, k] float32 and indices [nq, k] int64, each row sorted best
// first; an empty slot is (-inf, -1). "Best" is the higher score, and on equal scores the lower
// key index, so the result is deterministic whatever the blocking.
#include "topk_core.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <limits>
#include <utility>
#include <vector>

extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k, const float* alpha,
                       const float* a, const int* lda, const float* b, const int* ldb, const float* beta, float* c, const int* ldc);

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

using TopkArgs = TopkProblem;

// One [rows, cols] tile of dot products, C = Q K^T, by the same BLAS call ATen's mm makes for a
// contiguous [rows, cols] result (sgemm with the operands swapped: C^T = K Q^T in column-major), so
// the two addons compute the same bits.
static void DotTile(const float* q, int64_t rows, const float* keys, int64_t cols, int64_t d, float* out) {
  const int m = static_cast<int>(cols), n = static_cast<int>(rows), kk = static_cast<int>(d);
  const float one = 1.0f, zero = 0.0f;
  sgemm_("T", "N", &m, &n, &kk, &one, keys, &kk, q, &kk, &zero, out, &m);
}

// Scans keys [cBegin, cEnd) for the queries of rows [r0, r0 + rows) into their heaps (worst entry
// at the front), one [rows, kTile] tile of dot products at a time; buf holds one tile.
static void ScanKeys(const TopkArgs& a, int64_t r0, int64_t rows, int64_t cBegin, int64_t cEnd, std::vector<std::vector<Entry>>& heaps,
                     float* buf) {
  const int64_t k = a.k;
  std::vector<float> cmax(static_cast<size_t>((a.kTile + kChunk - 1) / kChunk)), sel(static_cast<size_t>(a.k));
  for (int64_t c0 = cBegin; c0 < cEnd; c0 += a.kTile) {
    const int64_t c1 = std::min(cEnd, c0 + a.kTile), cols = c1 - c0;
    float* S = buf;
    DotTile(a.q + r0 * a.d, rows, a.keys + c0 * a.d, cols, a.d, S);  // [rows, cols] dot products
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

void TopkMerge(const TopkProblem& a) {
  const int64_t nq = a.nq, nk = a.nk;
  if (nq == 0 || nk == 0) return;
  // inside another parallel region (a caller's own threads) the work stays on the calling thread
  const int64_t threads = omp_in_parallel() ? 1 : static_cast<int64_t>(omp_get_max_threads());
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
  const int64_t items = tiles * parts;
  // an exception (bad_alloc) must not leave an OpenMP region: the first is kept and thrown after it
  std::exception_ptr failed;
  std::atomic_flag failing = ATOMIC_FLAG_INIT;
  auto keep = [&]() {
    if (!failing.test_and_set()) failed = std::current_exception();
    next = items;  // the other threads stop at their next item
  };
#pragma omp parallel num_threads(static_cast<int>(std::min(threads, items))) if (threads > 1 && items > 1)
  try {
    std::vector<float> buf(static_cast<size_t>(qTile * a.kTile));
    std::vector<std::vector<Entry>> heaps(static_cast<size_t>(qTile));
    for (int64_t item = next++; item < items; item = next++) {
      const int64_t t = item / parts, p = item % parts;
      const int64_t r0 = t * qTile, rows = std::min(nq, r0 + qTile) - r0;
      for (int64_t r = 0; r < rows; ++r) {
        auto& h = heaps[static_cast<size_t>(r)];
        h.clear();
        if (parts == 1) LoadRow(a, r0 + r, h);  // split parts start empty; the state joins at the merge
        std::make_heap(h.begin(), h.end(), Better);
      }
      ScanKeys(a, r0, rows, p * perPart, std::min(nk, (p + 1) * perPart), heaps, buf.data());
      for (int64_t r = 0; r < rows; ++r) {
        if (parts == 1) StoreRow(a, r0 + r, heaps[static_cast<size_t>(r)]);
        else partial[static_cast<size_t>(p * nq + r0 + r)] = heaps[static_cast<size_t>(r)];
      }
    }
  } catch (...) {
    keep();
  }
  if (failed) std::rethrow_exception(failed);
  if (parts == 1) return;
  std::atomic<int64_t> row{0};
#pragma omp parallel num_threads(static_cast<int>(threads)) if (threads > 1 && nq > 64)
  try {
    std::vector<Entry> all;
    for (int64_t i = row++; i < nq; i = row++) {
      all.clear();
      LoadRow(a, i, all);
      for (int64_t p = 0; p < parts; ++p) {
        const auto& h = partial[static_cast<size_t>(p * nq + i)];
        all.insert(all.end(), h.begin(), h.end());
      }
      StoreRow(a, i, all);
    }
  } catch (...) {
    if (!failing.test_and_set()) failed = std::current_exception();
    row = nq;
  }
  if (failed) std::rethrow_exception(failed);
}

}  // namespace llp
