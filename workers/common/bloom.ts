/**
 * A Bloom filter: answers "certainly not present" or "maybe present" in a few bytes per item.
 * Indexes come from double hashing two 32-bit FNV-1a variants (Kirsch-Mitzenmacher), which
 * keeps false positives at the rate the size was chosen for.
 */
export class BloomFilter {
  readonly bitCount: number;

  constructor(
    readonly bits: Uint8Array,
    readonly hashCount: number,
  ) {
    this.bitCount = bits.length * 8;
  }

  /**
   * Sized for `items` entries at false-positive rate `rate`, in at most `maxBytes`: past that
   * size the rate gives, not the size.
   */
  static forItems(items: number, rate = 0.001, maxBytes = Number.POSITIVE_INFINITY): BloomFilter {
    const n = Math.max(1, items);
    const bitCount = Math.min(
      Math.max(1024, Math.ceil((-n * Math.log(rate)) / Math.LN2 ** 2)),
      Math.max(1024, Math.floor(maxBytes) * 8),
    );
    // -log2(rate) hashes reach the rate at the optimal size; a larger minimum size needs no more.
    const hashCount = Math.max(
      1,
      Math.min(Math.round((bitCount / n) * Math.LN2), Math.ceil(-Math.log2(rate))),
    );
    return new BloomFilter(new Uint8Array(Math.ceil(bitCount / 8)), hashCount);
  }

  add(item: string): void {
    for (const i of this.indexes(item)) this.bits[i >>> 3] = (this.bits[i >>> 3] ?? 0) | (1 << (i & 7));
  }

  has(item: string): boolean {
    for (const i of this.indexes(item)) {
      if (((this.bits[i >>> 3] ?? 0) & (1 << (i & 7))) === 0) return false;
    }
    return true;
  }

  private *indexes(item: string): Generator<number> {
    let h1 = 0x811c9dc5;
    let h2 = 0x01000193 ^ 0x5bd1e995;
    for (let i = 0; i < item.length; i++) {
      const c = item.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    h1 >>>= 0;
    h2 = (h2 | 1) >>> 0; // odd, so the probe sequence visits distinct bits
    for (let k = 0; k < this.hashCount; k++) {
      yield ((h1 + Math.imul(k, h2)) >>> 0) % this.bitCount;
    }
  }
}
