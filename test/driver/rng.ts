// xorshift32: test data and fuzz runs are reproducible from a seed.

export class Rng {
  private x: number;

  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }

  u32(): number {
    let x = this.x;
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return (this.x = x);
  }

  /** 0 <= n < max */
  below(max: number): number {
    return this.u32() % max;
  }

  chance(percent: number): boolean {
    return this.below(100) < percent;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /** Index chosen with the given weights. */
  weighted(weights: readonly number[], total: number): number {
    let r = this.below(total);
    for (let i = 0; i < weights.length; i++) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.length - 1;
  }
}
