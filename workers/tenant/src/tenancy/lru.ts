/**
 * A bounded in-isolate cache with per-entry expiry. Map keeps insertion order, so re-inserting
 * on read makes the first key the least recently used. Bounded by entries, and optionally by
 * the sizes its callers give (an isolate has 128 MB, and entries are not all alike).
 */
export class Lru<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
    private readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  /** The value and whether it is past its expiry; expired values are kept to serve stale. */
  peek(key: string): { value: V; fresh: boolean } | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return { value: hit.value, fresh: hit.expiresAt > this.now() };
  }

  /** `bytes`: what the value costs against maxBytes; one larger than that is not kept. */
  set(key: string, value: V, ttlMs: number, bytes = 0): void {
    this.delete(key);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs, bytes });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.delete(oldest);
    }
  }

  delete(key: string): void {
    const hit = this.entries.get(key);
    if (!hit) return;
    this.entries.delete(key);
    this.bytes -= hit.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The sum of the kept entries' sizes. */
  get totalBytes(): number {
    return this.bytes;
  }
}
