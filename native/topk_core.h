// The blocked top-k kernel shared by the two addons (see topk_core.cc). No libtorch here.
#pragma once
#include <cstdint>

namespace llp {

struct TopkProblem {
  const float* q;      // [nq, d] queries, row-major
  int64_t nq;
  const float* keys;   // [nk, d] one block of keys, row-major
  int64_t nk;
  int64_t d;
  float tau;           // scores are dot / tau (1 = raw dot products)
  const float* bias;   // [nk] subtracted from the scores, or null
  int64_t offset;      // index of the block's first key in the whole key set
  float* vals;         // [nq, k] running state (in/out), best first; -inf where empty
  int64_t* idx;        // [nq, k] key indices; -1 where empty
  int64_t k, qTile, kTile;
};

// Merges one block of keys into the running top-k, on omp_get_max_threads() threads (one inside
// another parallel region). Memory: one [qTile, kTile] float tile and qTile small heaps per thread.
void TopkMerge(const TopkProblem& p);

}  // namespace llp
