// Blocked nearest-neighbour search on the unit sphere (dot product = cosine similarity).
// Memory never holds the full Q x M similarity matrix: rows are processed in blocks.
import { tidy } from "../torch/scope.js";
import { cat, noGrad, type Tensor } from "../torch/tensor.js";

export interface TopK {
  values: Tensor; // [Q, k] similarities, descending
  indices: Tensor; // [Q, k] int64 rows of keys
}

/** queries: [Q, D], keys: [M, D] -> the k most similar keys of each query. */
export function blockedTopk(queries: Tensor, keys: Tensor, k: number, blockRows = 1024): TopK {
  const [q, d] = queries.shape as [number, number];
  const [m, dk] = keys.shape as [number, number];
  if (d !== dk) throw new Error(`blockedTopk: queries [${queries.shape}] and keys [${keys.shape}] differ in D`);
  if (k > m) throw new Error(`blockedTopk: k=${k} exceeds the ${m} keys`);
  return noGrad(() =>
    tidy(() => {
      const vals: Tensor[] = [];
      const idxs: Tensor[] = [];
      for (let start = 0; start < q; start += blockRows) {
        const end = Math.min(q, start + blockRows);
        const sims = queries.slice(0, start, end).mm(keys.T); // [b, M]
        const [v, i] = sims.topk(k, 1, true);
        vals.push(v);
        idxs.push(i);
        sims.dispose();
      }
      return {
        values: vals.length === 1 ? (vals[0] as Tensor) : cat(vals, 0),
        indices: idxs.length === 1 ? (idxs[0] as Tensor) : cat(idxs, 0),
      };
    }),
  );
}
