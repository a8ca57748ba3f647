// Data in, batches out: datasets per format, the seeded split, augmentation and prefetching batches.
export * from "./augment.js";
export { parseCsv, parseLabels, readCsv } from "./csv.js";
export * from "./dataset.js";
export { DataError } from "./errors.js";
export * from "./fashion-mnist.js";
export { type FeatureOptions, loadCsvFeatures, loadNpyFeatures } from "./features.js";
export * from "./idx.js";
export * from "./image-folder.js";
export * from "./load.js";
export { Batch, DataLoader, type LoaderOptions, LoaderStats } from "./loader.js";
export { type NpyArray, type NpyDtype, parseNpy, readNpy } from "./npy.js";
export { BatchSampler, SAMPLER_DEFAULTS, type SamplerOptions } from "./sampler.js";
export * from "./split.js";
export { channelStats, type StatsOptions } from "./stats.js";
export { SubsetDataset, type SubsetOptions } from "./subset.js";
