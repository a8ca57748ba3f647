// What the methods built on a memory bank share besides LLP (ir-knn, la, dmt): the bank and
// labelled rows (LLPState) filled at the start, kNN evaluation from the labelled rows, the bank in
// checkpoints, the network itself evaluating.
import type { LLPNet } from "../model/net.js";
import type { Tensor } from "../torch/tensor.js";
import { LLPState } from "./llp.js";
import type { MethodContext } from "./method.js";

export abstract class BankMethod {
  readonly state: LLPState;
  protected readonly ctx: MethodContext;

  constructor(ctx: MethodContext) {
    this.ctx = ctx;
    this.state = new LLPState(ctx);
  }
  async start(): Promise<void> {
    await this.state.fill(this.ctx);
  }
  evalNet(): LLPNet {
    return this.ctx.net;
  }
  knnRows(): { V: Tensor; y: Tensor } {
    return this.state.knnRows();
  }
  stateDict(): Map<string, Tensor> {
    return new Map([["bank.V", this.state.bank.V]]);
  }
  loadStateDict(state: Map<string, Tensor>, path: string): void {
    this.state.loadBank(state, path);
  }
  dispose(): void {
    this.state.dispose();
  }
}
