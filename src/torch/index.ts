// llp's tensor engine: libtorch through a Node-API addon.
export * from "./dtype.js";
export * as F from "./functional.js";
export * as nn from "./nn/index.js";
export * from "./optim.js";
export { Generator } from "./random.js";
export * from "./safetensors.js";
export { dispose, keep, liveTensors, scopeDepth, tidy } from "./scope.js";
export * from "./tensor.js";
export * from "./threads.js";
