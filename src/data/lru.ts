// A byte-bounded least-recently-used cache, and a counting semaphore for bounded parallelism.

export class LruCache<K, V extends { byteLength: number }> {
  #map = new Map<K, V>();
  #bytes = 0;
  constructor(readonly maxBytes: number) {}

  get bytes(): number {
    return this.#bytes;
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v); // most recent last
    }
    return v;
  }
  set(key: K, value: V): void {
    if (value.byteLength > this.maxBytes) return;
    const old = this.#map.get(key);
    if (old !== undefined) {
      this.#bytes -= old.byteLength;
      this.#map.delete(key);
    }
    this.#map.set(key, value);
    this.#bytes += value.byteLength;
    for (const [k, v] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(k);
      this.#bytes -= v.byteLength;
    }
  }
}

export class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  constructor(slots: number) {
    this.#free = slots;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}
