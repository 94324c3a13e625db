/** Percentile by nearest rank over a copy (inputs stay in measurement order). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const median = (values: number[]) => percentile(values, 50);

export interface Timing {
  p50: number;
  p95: number;
  p99: number;
  /** Median of the per-repetition p50s and their spread (max/min): noise made visible. */
  reps: number;
  spread: number;
  samples: number;
}

/** Times `fn` `samples` times per repetition, `reps` repetitions; milliseconds. */
export async function time(
  fn: () => Promise<unknown>,
  samples: number,
  reps: number,
  warmup = 1,
): Promise<Timing> {
  for (let i = 0; i < warmup; i++) await fn();
  const all: number[] = [];
  const repMedians: number[] = [];
  for (let r = 0; r < reps; r++) {
    const these: number[] = [];
    for (let i = 0; i < samples; i++) {
      const started = performance.now();
      await fn();
      these.push(performance.now() - started);
    }
    all.push(...these);
    repMedians.push(median(these));
  }
  return {
    p50: median(repMedians),
    p95: percentile(all, 95),
    p99: percentile(all, 99),
    reps,
    spread: Math.max(...repMedians) / Math.min(...repMedians),
    samples: all.length,
  };
}

export const fmt = (n: number, digits = 2) =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits)) : "n/a";
