import { type Datasets, withBoth } from "../lib/data";
import { say } from "../lib/progress";
import { fmt, time } from "../lib/stats";
import type { BenchResult } from "../lib/types";

/**
 * Full refresh of mv_user_communities: ours (what the cron runs: the copy readers are not on,
 * refreshed plainly, then swapped in; linear definition) against the original's definition
 * refreshed plainly, its cheapest form. Ours blocks readers for the instant of the swap only;
 * a plain refresh of the original blocks them for its whole run (its triggers used
 * CONCURRENTLY to avoid that, which is slower still).
 */
export async function viewBench(
  ds: Datasets,
  opts: { reps: number; originalReps: number },
): Promise<BenchResult> {
  return withBoth(ds, async (ours, original) => {
    say("view: ours");
    const o = await time(() => ours.query("SELECT private.refresh_user_communities()"), 1, opts.reps, 0);
    say("view: original (this is the slow one)");
    const b = await time(
      () => original.query("REFRESH MATERIALIZED VIEW private.mv_user_communities"),
      1,
      opts.originalReps,
      0,
    );
    const ratio = b.p50 / o.p50;
    return {
      name: "view",
      title: "Materialized view full refresh",
      baselineName: "original view definition",
      rows: [
        {
          label: "full refresh",
          ours: o.p50,
          baseline: b.p50,
          unit: "ms",
          ratio,
          detail: `ours spread ${fmt(o.spread)}x over ${o.reps} runs; original ${b.reps} run(s)`,
        },
      ],
      targets: [{ text: "view refresh at least 50x faster", met: ratio >= 50, note: `${fmt(ratio)}x` }],
      notes: [],
    };
  });
}
