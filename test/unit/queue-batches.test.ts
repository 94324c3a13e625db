import { describe, expect, it } from "vitest";
import type { JobMessage } from "../../workers/common/jobs";
import { batchesOf } from "../../workers/common/queues";

const job = (n: number, text = ""): JobMessage => ({
  v: 1,
  job_id: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
  queue: "analytics",
  operation: "record_analytics",
  tenant_id: "a0000000-0000-4000-8000-000000000001",
  user_id: "b0000000-0000-4000-8000-000000000001",
  priority: 1,
  created_at: "2026-11-26T00:00:00.000Z",
  payload: { event_type: "x", properties: { text } },
});

describe("sendBatch runs", () => {
  it("keep a request's jobs in one run, in order", () => {
    const jobs = Array.from({ length: 100 }, (_, i) => job(i));
    expect(batchesOf(jobs)).toEqual([jobs]);
  });

  it("split at 100 messages", () => {
    const runs = batchesOf(Array.from({ length: 250 }, (_, i) => job(i)));
    expect(runs.map((r) => r.length)).toEqual([100, 100, 50]);
  });

  it("split before 256 KB, counting UTF-8 bytes, not characters", () => {
    const big = "é".repeat(4_000); // 8,000 bytes of UTF-8 in 4,000 characters
    const runs = batchesOf(Array.from({ length: 60 }, (_, i) => job(i, big)));
    expect(runs.length).toBeGreaterThan(1);
    for (const run of runs) {
      const bytes = run.reduce((n, j) => n + new TextEncoder().encode(JSON.stringify(j)).length + 128, 0);
      expect(bytes).toBeLessThanOrEqual(240_000);
    }
    expect(runs.flat().map((j) => j.job_id)).toEqual(Array.from({ length: 60 }, (_, i) => job(i).job_id));
  });
});
