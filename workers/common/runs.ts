/**
 * Items in order, cut into runs of at most `maxItems` whose sizes add up to at most `maxBytes`
 * (an item larger than that makes a run of its own): what one call may carry, a sendBatch or a
 * statement sent over HTTP.
 */
export function runsWithin<T>(
  items: readonly T[],
  sizeOf: (item: T, index: number) => number,
  maxBytes: number,
  maxItems = Number.POSITIVE_INFINITY,
): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let bytes = 0;
  for (const [i, item] of items.entries()) {
    const size = sizeOf(item, i);
    if (run.length > 0 && (run.length === maxItems || bytes + size > maxBytes)) {
      runs.push(run);
      run = [];
      bytes = 0;
    }
    run.push(item);
    bytes += size;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}
