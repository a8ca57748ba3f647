// Local density of each labelled point (paper Eq. 7):
//   rho(v_i) = sum_{j in N_T(v_i)} P(j | v_i),  P(j | v) = exp(v_j.v / tau) / Z.
// As in the original code, Z is one global constant, so rho(v_i) is proportional to the local
// mass sum_{j in N_T(v_i)} exp(v_j.v_i / tau), high in dense regions. A constant factor cancels
// in the vote (Eq. 8), so we return log of the local mass. N_T(v_i) are the T nearest rows of
// the whole bank, which include v_i itself (as the original code's top-k over the bank does).
import { tidy } from "../torch/scope.js";
import { noGrad, type Tensor } from "../torch/tensor.js";
import { blockedTopk } from "./neighbours.js";

/** labelledV: [M, D], bank: [N, D] -> log rho: [M] */
export function logDensity(labelledV: Tensor, bank: Tensor, T: number, tau: number): Tensor {
  return noGrad(() =>
    tidy(() => {
      const t = Math.min(T, bank.size(0));
      const { values } = blockedTopk(labelledV, bank, t); // [M, T]
      return densityFromTop(values, tau); // [M]
    }),
  );
}

/** The T best dot products of each labelled point with the bank: [M, T] -> log rho: [M] */
export function densityFromTop(values: Tensor, tau: number): Tensor {
  return values.div(tau).logsumexp(1);
}
