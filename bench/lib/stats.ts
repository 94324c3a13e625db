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

function summarize(perRep: number[][]): Timing {
  const all = perRep.flat();
  const repMedians = perRep.map((these) => median(these));
  return {
    p50: median(repMedians),
    p95: percentile(all, 95),
    p99: percentile(all, 99),
    reps: perRep.length,
    spread: Math.max(...repMedians) / Math.min(...repMedians),
    samples: all.length,
  };
}

/** Times `fn` `samples` times per repetition, `reps` repetitions; milliseconds. */
export async function time(
  fn: () => Promise<unknown>,
  samples: number,
  reps: number,
  warmup = 1,
): Promise<Timing> {
  const [timing] = await timeAlternating([{ fn, samples }], reps, warmup);
  if (!timing) throw new Error("no timing");
  return timing;
}

/**
 * Times several functions in turn within each repetition (a's samples, then b's, then the next
 * repetition), so drift on a shared machine hits them alike; each may take its own number of
 * samples (a fast one more, for a steadier median). Milliseconds, in the order given.
 */
export async function timeAlternating(
  runs: { fn: () => Promise<unknown>; samples: number }[],
  reps: number,
  warmup = 1,
): Promise<Timing[]> {
  for (const { fn } of runs) for (let i = 0; i < warmup; i++) await fn();
  const perRun = runs.map(() => [] as number[][]);
  for (let r = 0; r < reps; r++) {
    for (const [k, { fn, samples }] of runs.entries()) {
      const these: number[] = [];
      for (let i = 0; i < samples; i++) {
        const started = performance.now();
        await fn();
        these.push(performance.now() - started);
      }
      perRun[k]?.push(these);
    }
  }
  return perRun.map(summarize);
}

export const fmt = (n: number, digits = 2) =>
  Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(digits)) : "n/a";
