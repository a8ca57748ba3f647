// ONNX export: a graph builder that modules write their inference form into (each layer's
// `onnx(g, x)` mirrors its `forward` in eval mode), and the protobuf encoding of the model.
// The encoding follows onnx/onnx.proto (IR version 8, default opset 17); only the messages and
// fields an inference graph of float tensors needs are written. No dependency: protobuf's wire
// format is varints and length-delimited fields.
import type { Tensor } from "./tensor.js";

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8; // the IR version of ONNX 1.12..1.13, which introduced opset 17

/** Attribute values a node can carry: int, float, string, ints, floats. */
export type AttrValue = number | string | number[] | { float: number } | { floats: number[] };

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, AttrValue>;
}
interface Initializer {
  name: string;
  dims: number[];
  type: "float32" | "int64";
  data: Float32Array | BigInt64Array;
}
/** A value in the graph: its name and static shape, the batch dimension as -1. */
export interface Value {
  name: string;
  shape: number[];
}

/** A graph input or output: its name and shape (a string is a named dynamic dimension). */
export interface ValueInfo {
  name: string;
  shape: (number | string)[];
}

/**
 * The graph being written. `op` adds a node and returns its output's name; `param` copies a
 * tensor's values into an initializer (so the exported file owns its weights and the network
 * can be disposed); names are made unique from the given prefixes.
 */
export class OnnxGraph {
  readonly nodes: Node[] = [];
  readonly initializers: Initializer[] = [];
  readonly #names = new Map<string, number>();

  /** A fresh name from a prefix ("conv1.weight", then "conv1.weight_1", ...). */
  name(prefix: string): string {
    const n = this.#names.get(prefix) ?? 0;
    this.#names.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }
  /** Adds a node with one output; returns the output's name. */
  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outName?: string): string {
    const out = outName ?? this.name(`${op.toLowerCase()}_out`);
    this.nodes.push({ op, inputs, outputs: [out], name: this.name(op), attrs });
    return out;
  }
  /** A float32 initializer holding a copy of the tensor's values. */
  param(prefix: string, t: Tensor): string {
    if (t.dtype !== "float32") throw new Error(`onnx: ${prefix} is ${t.dtype}; only float32 weights are exported`);
    return this.constant(prefix, Float32Array.from(t.toArray() as Float32Array), t.shape);
  }
  /** A float32 initializer from values. */
  constant(prefix: string, data: Float32Array | number[], dims: number[]): string {
    const values = data instanceof Float32Array ? data : Float32Array.from(data);
    if (values.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`onnx: ${prefix}: ${values.length} values for dims [${dims}]`);
    const name = this.name(prefix);
    this.initializers.push({ name, dims, type: "float32", data: values });
    return name;
  }
  /** An int64 initializer (shapes, axes). */
  int64s(prefix: string, values: number[]): string {
    const name = this.name(prefix);
    this.initializers.push({ name, dims: [values.length], type: "int64", data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }
}

const attrPair = (v: number) => [v, v];

/** Functional ops in their eval form, shapes carried along (torch's semantics, NCHW). */
export const ops = {
  relu: (g: OnnxGraph, x: Value): Value => ({ name: g.op("Relu", [x.name]), shape: x.shape }),
  add: (g: OnnxGraph, a: Value, b: Value): Value => ({ name: g.op("Add", [a.name, b.name]), shape: a.shape }),
  /** torch.flatten(x, 1) */
  flatten: (g: OnnxGraph, x: Value): Value => ({
    name: g.op("Flatten", [x.name], { axis: 1 }),
    shape: [x.shape[0] as number, x.shape.slice(1).reduce((a, b) => a * b, 1)],
  }),
  /** F.max_pool2d(x, k, stride, padding), floor mode */
  maxPool2d(g: OnnxGraph, x: Value, kernel: number, stride = kernel, padding = 0): Value {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const out = (n: number) => Math.floor((n + 2 * padding - kernel) / stride) + 1;
    return {
      name: g.op("MaxPool", [x.name], {
        kernel_shape: attrPair(kernel),
        strides: attrPair(stride),
        pads: [padding, padding, padding, padding],
      }),
      shape: [b, c, out(h), out(w)],
    };
  },
  /**
   * F.adaptive_avg_pool2d(x, size): bin i of n inputs averages [floor(i n / size), ceil((i+1) n / size)).
   * Global pooling and exact divisions are one pooling op; otherwise the bins overlap or differ
   * in size, and the pooling is two products with averaging matrices, A_h x A_w^T.
   */
  adaptiveAvgPool2d(g: OnnxGraph, x: Value, size: number): Value {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    if (size === 1) return { name: g.op("GlobalAveragePool", [x.name]), shape: [b, c, 1, 1] };
    if (h % size === 0 && w % size === 0) {
      const kh = h / size;
      const kw = w / size;
      return { name: g.op("AveragePool", [x.name], { kernel_shape: [kh, kw], strides: [kh, kw] }), shape: [b, c, size, size] };
    }
    const averaging = (n: number, transpose: boolean) => {
      const a = new Float32Array(size * n);
      for (let i = 0; i < size; i++) {
        const s = Math.floor((i * n) / size);
        const e = Math.ceil(((i + 1) * n) / size);
        for (let j = s; j < e; j++) a[transpose ? j * size + i : i * n + j] = 1 / (e - s);
      }
      return g.constant("adaptive_pool", a, transpose ? [n, size] : [size, n]);
    };
    const rows = g.op("MatMul", [averaging(h, false), x.name]); // [size, H] x [B, C, H, W] -> [B, C, size, W]
    return { name: g.op("MatMul", [rows, averaging(w, true)]), shape: [b, c, size, size] }; // x [W, size]
  },
  /** F.normalize(x, dim = 1): x / max(||x||_2, eps) */
  normalize(g: OnnxGraph, x: Value, eps = 1e-12): Value {
    const norm = g.op("ReduceL2", [x.name], { axes: [1], keepdims: 1 });
    const clamped = g.op("Max", [norm, g.constant("eps", [eps], [])]);
    return { name: g.op("Div", [x.name, clamped]), shape: x.shape };
  },
  softmax: (g: OnnxGraph, x: Value): Value => ({ name: g.op("Softmax", [x.name], { axis: 1 }), shape: x.shape }),
};

export interface OnnxModel {
  graph: OnnxGraph;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  graphName: string;
  /** metadata_props: key -> value (strings; JSON for structured values). */
  metadata: Record<string, string>;
  producerVersion: string;
  docString?: string;
}

// ---- protobuf wire format ----

class Writer {
  #chunks: Uint8Array[] = [];
  #len = 0;
  bytes(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#len += b.length;
  }
  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.bytes(Uint8Array.from(out));
  }
  tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }
  int(field: number, v: number | bigint): void {
    this.tag(field, 0);
    this.varint(v);
  }
  float(field: number, v: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.bytes(b);
  }
  lenDelimited(field: number, b: Uint8Array): void {
    this.tag(field, 2);
    this.varint(b.length);
    this.bytes(b);
  }
  string(field: number, s: string): void {
    this.lenDelimited(field, new TextEncoder().encode(s));
  }
  message(field: number, build: (w: Writer) => void): void {
    const w = new Writer();
    build(w);
    this.lenDelimited(field, w.finish());
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.#len);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// onnx.proto field numbers
const TENSOR_FLOAT = 1;
const TENSOR_INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

function writeAttribute(w: Writer, name: string, v: AttrValue): void {
  w.string(1, name); // AttributeProto.name
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`onnx: attribute ${name} = ${v}: integers only; use { float: x }`);
    w.int(20, ATTR.INT); // type
    w.int(3, v); // i
  } else if (typeof v === "string") {
    w.int(20, ATTR.STRING);
    w.string(4, v); // s
  } else if (Array.isArray(v)) {
    w.int(20, ATTR.INTS);
    for (const x of v) w.int(8, x); // ints
  } else if ("float" in v) {
    w.int(20, ATTR.FLOAT);
    w.float(2, v.float); // f
  } else {
    w.int(20, ATTR.FLOATS);
    for (const x of v.floats) w.float(7, x); // floats
  }
}

function writeTensor(w: Writer, t: Initializer): void {
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, t.type === "float32" ? TENSOR_FLOAT : TENSOR_INT64); // data_type
  w.string(8, t.name); // name
  // raw_data: little-endian, as ONNX requires
  const raw = new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
  w.lenDelimited(9, raw);
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name); // ValueInfoProto.name
  w.message(2, (type) =>
    // TypeProto.tensor_type
    type.message(1, (tt) => {
      tt.int(1, TENSOR_FLOAT); // elem_type
      tt.message(2, (shape) => {
        for (const d of v.shape)
          shape.message(1, (dim) => {
            if (typeof d === "number")
              dim.int(1, d); // dim_value
            else dim.string(2, d); // dim_param
          });
      });
    }),
  );
}

/** The model as ONNX protobuf bytes (ModelProto). */
export function encodeModel(m: OnnxModel): Uint8Array {
  const w = new Writer();
  w.int(1, ONNX_IR_VERSION); // ir_version
  w.string(2, "llp"); // producer_name
  w.string(3, m.producerVersion); // producer_version
  if (m.docString) w.string(6, m.docString); // doc_string
  w.message(7, (g) => {
    // GraphProto
    for (const n of m.graph.nodes)
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs)) nw.message(5, (aw) => writeAttribute(aw, k, v));
      });
    g.string(2, m.graphName);
    for (const t of m.graph.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of m.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => {
    // OperatorSetIdProto (the default domain "")
    o.int(2, ONNX_OPSET);
  });
  for (const [k, v] of Object.entries(m.metadata))
    w.message(14, (e) => {
      e.string(1, k);
      e.string(2, v);
    });
  return w.finish();
}
