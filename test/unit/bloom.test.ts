import { describe, expect, it } from "vitest";
import { BloomFilter } from "../../workers/common/bloom";

describe("BloomFilter", () => {
  it("never forgets an item it was given", () => {
    const filter = BloomFilter.forItems(10_000);
    const items = Array.from({ length: 10_000 }, (_, i) => `slug:tenant-${i}`);
    for (const item of items) filter.add(item);
    expect(items.filter((i) => !filter.has(i))).toEqual([]);
  });

  it("answers 'maybe' for absent items at about the rate it was sized for (0.1 %)", () => {
    const filter = BloomFilter.forItems(10_000, 0.001);
    for (let i = 0; i < 10_000; i++) filter.add(`slug:tenant-${i}`);
    let falsePositives = 0;
    const probes = 200_000;
    for (let i = 0; i < probes; i++) if (filter.has(`slug:random-${i}-x`)) falsePositives++;
    expect(falsePositives / probes).toBeLessThan(0.002);
  });

  it("is about 1.8 bytes per item at 0.1 %", () => {
    expect(BloomFilter.forItems(100_000, 0.001).bits.length).toBeLessThan(100_000 * 1.9);
  });

  it("keeps within a byte bound by letting more absent items through, never by forgetting one", () => {
    const filter = BloomFilter.forItems(100_000, 0.001, 100_000);
    expect(filter.bits.length).toBe(100_000);
    const items = Array.from({ length: 100_000 }, (_, i) => `slug:tenant-${i}`);
    for (const item of items) filter.add(item);
    expect(items.filter((i) => !filter.has(i))).toEqual([]);
    let falsePositives = 0;
    const probes = 100_000;
    for (let i = 0; i < probes; i++) if (filter.has(`slug:random-${i}-x`)) falsePositives++;
    // 8 bits an item instead of 14.4: ~2 % instead of 0.1 %.
    expect(falsePositives / probes).toBeGreaterThan(0.01);
    expect(falsePositives / probes).toBeLessThan(0.03);
  });

  it("round-trips through its bytes and hash count, as stored in KV", () => {
    const filter = BloomFilter.forItems(100);
    filter.add("host:community.acme.test");
    const copy = new BloomFilter(new Uint8Array(filter.bits), filter.hashCount);
    expect(copy.has("host:community.acme.test")).toBe(true);
    expect(copy.has("host:other.test")).toBe(false);
  });
});
