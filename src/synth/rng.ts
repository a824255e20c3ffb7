/** xorshift32: small, fast, deterministic (the same datagrams for the same seed). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  /** 0 <= n < max */
  int(max: number): number {
    return this.next() % max;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }
}
