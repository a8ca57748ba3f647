// An exported model's description, read from the .onnx bytes themselves: onnxruntime's
// JavaScript API does not expose a model's metadata_props, so this walks ModelProto's top-level
// fields (protobuf wire format) and keeps field 14's key/value pairs. Runs in Node and browsers.
import { type ExportedInput, META, ONNX_FORMAT } from "./format.js";

/** metadata_props of an ONNX ModelProto, as key -> value. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields(bytes, 0, bytes.length)) {
    if (f.field !== 14 || f.wire !== 2) continue;
    let key = "";
    let value = "";
    for (const e of fields(bytes, f.start, f.end)) {
      const s = () => new TextDecoder().decode(bytes.subarray(e.start, e.end));
      if (e.field === 1 && e.wire === 2) key = s();
      else if (e.field === 2 && e.wire === 2) value = s();
    }
    out[key] = value;
  }
  return out;
}

export interface ModelInfo {
  input: ExportedInput;
  classNames: string[];
  /** the outputs the model has: logits, probs, embedding */
  heads: string[];
  method: string;
  model: string;
  weights: string;
  /** the statistics the network's inputs were normalised with during training (applied inside the graph) */
  normalization: { mean: number[]; std: number[] };
}

/** The model's description, or an error naming the file when it is not an llp export. */
export function modelInfo(bytes: Uint8Array, file: string): ModelInfo {
  let meta: Record<string, string>;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (e) {
    throw new Error(`${file}: not an ONNX file (${(e as Error).message})`);
  }
  if (meta[META.format] !== ONNX_FORMAT)
    throw new Error(
      `${file}: not a model exported by llp export (metadata ${META.format} is ${JSON.stringify(meta[META.format] ?? null)})`,
    );
  const json = <T>(key: string): T => JSON.parse(meta[key] ?? "null") as T;
  return {
    input: json<ExportedInput>(META.input),
    classNames: json<string[]>(META.classes),
    heads: json<string[]>(META.heads),
    method: meta[META.method] ?? "",
    model: meta[META.model] ?? "",
    weights: meta[META.weights] ?? "",
    normalization: json<{ mean: number[]; std: number[] }>(META.normalization),
  };
}

interface Field {
  field: number;
  wire: number;
  /** for length-delimited fields: the payload's bounds */
  start: number;
  end: number;
}

/** The fields of one message in bytes[start, end). */
function* fields(b: Uint8Array, start: number, end: number): Generator<Field> {
  let p = start;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (p >= end) throw new Error("truncated varint");
      const x = b[p++] as number;
      v += (x & 0x7f) * mul;
      if (x < 0x80) return v;
      mul *= 128;
      if (mul > 2 ** 63) throw new Error("varint too long");
    }
  };
  while (p < end) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      varint();
      yield { field, wire, start: p, end: p };
    } else if (wire === 1 || wire === 5) {
      p += wire === 1 ? 8 : 4;
      yield { field, wire, start: p, end: p };
    } else if (wire === 2) {
      const len = varint();
      const s = p;
      p += len;
      if (p > end) throw new Error("length-delimited field runs past the end");
      yield { field, wire, start: s, end: p };
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  if (p !== end) throw new Error("field runs past the end");
}
