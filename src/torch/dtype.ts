export type DType = "float32" | "float64" | "int64" | "int32" | "uint8" | "bool";

export type TypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** The typed array that holds each dtype's elements (bool is stored as one byte per element). */
export function arrayFor(dtype: DType, buffer: ArrayBuffer): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer);
    case "float64":
      return new Float64Array(buffer);
    case "int64":
      return new BigInt64Array(buffer);
    case "int32":
      return new Int32Array(buffer);
    case "uint8":
    case "bool":
      return new Uint8Array(buffer);
  }
}

export function dtypeOf(a: TypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  return "uint8";
}

/** Converts plain numbers to the typed array of `dtype`. */
export function toTyped(data: ArrayLike<number> | ArrayLike<bigint>, dtype: DType): TypedArray {
  const n = data.length;
  switch (dtype) {
    case "float32":
      return Float32Array.from(data as ArrayLike<number>);
    case "float64":
      return Float64Array.from(data as ArrayLike<number>);
    case "int32":
      return Int32Array.from(data as ArrayLike<number>);
    case "uint8":
    case "bool":
      return Uint8Array.from(data as ArrayLike<number>, (v) => (dtype === "bool" ? (v ? 1 : 0) : v));
    case "int64": {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) {
        const v = data[i] as number | bigint;
        if (typeof v === "number" && !Number.isInteger(v)) throw new TypeError(`int64 tensor from non-integer ${v}`);
        out[i] = BigInt(v);
      }
      return out;
    }
  }
}

export const itemSize: Record<DType, number> = { float32: 4, float64: 8, int64: 8, int32: 4, uint8: 1, bool: 1 };
