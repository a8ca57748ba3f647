// llp/infer: predictions from a model written by `llp export`, with onnxruntime-node and no
// libtorch. Inputs are read the way `llp predict` reads them (data/inputs.ts: image files and
// folders decoded with sharp to the model's size and colour, or one .npy of rows); the
// normalisation is inside the graph. Nothing here imports the tensor engine.
//
//   import { loadModel } from "llp/infer";
//   const model = await loadModel("model.onnx");
//   const rows = await model.classify(["shoe.png"]); // [{ input, class, confidence, top5 }]
//   model.release();
import { readFile } from "node:fs/promises";
import type { InferenceSession, Tensor as OrtTensor } from "onnxruntime-node";
import { type RawInputs, readInputs } from "../data/inputs.js";
import { INPUT_NAME, OUTPUTS } from "./format.js";
import { type ModelInfo, modelInfo } from "./metadata.js";

export { type ExportedInput, META, ONNX_FORMAT } from "./format.js";
export { type ModelInfo, modelInfo, readOnnxMetadata } from "./metadata.js";

/** One input's answer, as `llp predict` prints it. */
export interface Prediction {
  input: string;
  class: string;
  confidence: number;
  top5: { class: string; p: number }[];
}

/** The model's outputs for n inputs, row after row (those it was exported with). */
export interface Outputs {
  n: number;
  logits?: Float32Array; // [n, C]
  probs?: Float32Array; // [n, C]
  embedding?: Float32Array; // [n, D], unit rows
}

export interface LoadOptions {
  /** onnxruntime's intra-op threads (default: onnxruntime's own choice) */
  threads?: number;
  /** rows per onnxruntime call (default 256) */
  batchSize?: number;
}

type Ort = typeof import("onnxruntime-node");

async function onnxruntime(): Promise<Ort> {
  try {
    return await import("onnxruntime-node");
  } catch (e) {
    throw new Error(
      `llp/infer runs models with onnxruntime-node, which is not installed: npm install onnxruntime-node (${(e as Error).message})`,
    );
  }
}

/** Loads a model written by `llp export`. */
export async function loadModel(path: string, o: LoadOptions = {}): Promise<LlpModel> {
  const bytes = new Uint8Array(await readFile(path));
  const info = modelInfo(bytes, path);
  const ort = await onnxruntime();
  const session = await ort.InferenceSession.create(bytes, o.threads ? { intraOpNumThreads: o.threads, interOpNumThreads: 1 } : {});
  return new LlpModel(ort, session, info, o.batchSize ?? 256);
}

export class LlpModel {
  readonly #ort: Ort;
  readonly #session: InferenceSession;
  readonly #batchSize: number;
  constructor(
    ort: Ort,
    session: InferenceSession,
    readonly info: ModelInfo,
    batchSize: number,
  ) {
    this.#ort = ort;
    this.#session = session;
    this.#batchSize = batchSize;
  }

  /** Reads image files and folders, or one .npy of rows, as `llp predict` does. */
  read(inputs: string[]): Promise<RawInputs> {
    return readInputs(inputs, this.info.input.shape, this.info.normalization);
  }

  /**
   * The model's outputs for n raw examples of its input shape, read as `llp predict` reads them:
   * uint8 values are pixels 0-255, float32 values are in the units training saw after its 1/255
   * (pixels in [0, 1] for image data stored as uint8; the values themselves for float data).
   */
  async run(raw: Uint8Array | Float32Array, n: number): Promise<Outputs> {
    const shape = this.info.input.shape;
    const per = shape.reduce((a, b) => a * b, 1);
    if (raw.length !== n * per) throw new Error(`${raw.length} values are not ${n} examples of [${shape}]`);
    // the graph takes values as the training data stored them; llp predict scales uint8 rows by
    // 1/255 and takes float rows as they are, so uint8 rows for a float-trained model are divided
    // by 255 and float rows for a uint8-trained model multiplied by it
    const stored = this.info.input.stored ?? (this.info.input.kind === "image" ? "uint8" : "float32");
    const x =
      raw instanceof Uint8Array
        ? stored === "uint8"
          ? Float32Array.from(raw)
          : Float32Array.from(raw, (v) => v / 255)
        : stored === "uint8"
          ? raw.map((v) => v * 255)
          : raw;
    const out: Outputs = { n };
    const heads = this.info.heads as (keyof typeof OUTPUTS)[];
    for (let s = 0; s < n; s += this.#batchSize) {
      const b = Math.min(this.#batchSize, n - s);
      const feed = { [INPUT_NAME]: new this.#ort.Tensor("float32", x.subarray(s * per, (s + b) * per), [b, ...shape]) };
      const res = (await this.#session.run(feed)) as Record<string, OrtTensor>;
      for (const h of heads) {
        const t = res[h] as OrtTensor;
        const d = t.dims[1] as number;
        const all = out[h] ?? new Float32Array(n * d);
        all.set(t.data as Float32Array, s * d);
        out[h] = all;
        t.dispose();
      }
    }
    return out;
  }

  /** Class, confidence and top-5 of each input, as `llp predict` prints them. */
  async classify(inputs: string[]): Promise<Prediction[]> {
    if (!this.info.heads.includes(OUTPUTS.probs)) throw new Error("this model was exported with --head embedding: it has no classifier");
    const { raw, n, names } = await this.read(inputs);
    const probs = (await this.run(raw, n)).probs as Float32Array;
    const c = this.info.classNames.length;
    const k = Math.min(5, c);
    return names.map((input, b) => {
      const row = Array.from(probs.subarray(b * c, (b + 1) * c));
      // highest first; ties by class index, as torch.topk on a row breaks them on CPU
      const order = row.map((p, j) => [p, j] as const).sort((a, z) => z[0] - a[0] || a[1] - z[1]);
      const top5 = order.slice(0, k).map(([p, j]) => ({ class: this.info.classNames[j] as string, p }));
      return { input, class: top5[0]?.class as string, confidence: top5[0]?.p as number, top5 };
    });
  }

  /** Embeddings v (unit length, [n, D] row after row) of the inputs. */
  async embed(inputs: string[]): Promise<{ names: string[]; dim: number; data: Float32Array }> {
    if (!this.info.heads.includes(OUTPUTS.embedding))
      throw new Error("this model was exported with --head classifier: it has no embedding head");
    const { raw, n, names } = await this.read(inputs);
    const data = (await this.run(raw, n)).embedding as Float32Array;
    return { names, dim: n > 0 ? data.length / n : 0, data };
  }

  /** Frees onnxruntime's session. */
  async release(): Promise<void> {
    await this.#session.release();
  }
}
