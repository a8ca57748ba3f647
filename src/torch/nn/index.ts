export * from "./init.js";
export * from "./layers.js";
export * from "./module.js";
