// llp: Local Label Propagation (Zhuang, Ding, Murli, Yamins 2019) on libtorch.
export * from "./config.js";
export * as data from "./data/index.js";
export * from "./distributed/group.js";
export * from "./eval/metrics.js";
export * from "./losses/losses.js";
export * from "./memory/bank.js";
export * from "./memory/labels.js";
export * from "./model/net.js";
export * from "./propagation/density.js";
export * from "./propagation/neighbours.js";
export * from "./propagation/propagate.js";
export * as torch from "./torch/index.js";
export type { LoopState, TrainState } from "./train/checkpoint.js";
export { type PreparedData, prepareData } from "./train/data.js";
export * from "./train/loop.js";
export * from "./train/run.js";
export type * from "./train/types.js";
