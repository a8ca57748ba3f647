// k-means (Lloyd's algorithm) on the rows of a bank, for Local Aggregation's clusterings: squared
// L2 distances, 20 iterations (their faiss setting), initial centres drawn from the rows. A centre
// left without rows stays where it was.
import type { Generator } from "../torch/random.js";
import { tidy } from "../torch/scope.js";
import { noGrad, ones, type Tensor, tensor, where, zeros } from "../torch/tensor.js";
import { blockedTopk } from "./neighbours.js";

/** The cluster of every row of X [N, D] among k: [N] int64 (the caller disposes). */
export function kmeans(X: Tensor, k: number, gen: Generator, iters = 20): Tensor {
  const [n, d] = X.shape as [number, number];
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`k-means: k = ${k} needs 1 <= k <= ${n} rows`);
  return noGrad(() =>
    tidy(() => {
      const start = gen.permutation(n).subarray(0, k);
      let centres = X.indexSelect(0, tensor(start, [k], "int64")); // [k, D]
      let assign = nearest(X, centres); // [N]
      for (let it = 0; it < iters; it++) {
        const sums = zeros([k, d]).indexAdd_(0, assign, X); // [k, D]
        const counts = zeros([k])
          .indexAdd_(0, assign, ones([n]))
          .unsqueeze(1); // [k, 1]
        centres = where(counts.eq(0), centres, sums.div(counts.clamp(1))); // empty: unchanged
        const next = nearest(X, centres);
        const moved = next.ne(assign).any().item();
        assign = next;
        if (!moved) break;
      }
      return assign;
    }),
  );
}

/**
 * argmin_c |x - c|^2 = argmax_c (x . c - |c|^2 / 2) per row, by the blocked top-1 kernel (no N x k
 * matrix of scores). X: [N, D], centres: [k, D] -> [N] int64
 */
function nearest(X: Tensor, centres: Tensor): Tensor {
  const top = blockedTopk(X, centres, 1, { bias: centres.square().sum(1).div(2) });
  top.values.dispose();
  return top.indices.reshape([-1]);
}
