import path from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import {
  DEAD_LETTER_MAX_RETRIES,
  DEAD_LETTER_QUEUE,
  deadLetterRetryDelaySeconds,
  JOB_QUEUE_MAX_RETRIES,
  retryDelaySeconds,
} from "../../workers/batch/src/consume/retry";
import { CRON } from "../../workers/batch/src/cron/schedules";
import { QUEUES } from "../../workers/common/jobs";

const root = path.resolve(import.meta.dirname, "../..");

describe("the batch worker's queue settings", () => {
  const config = unstable_readConfig({ config: path.join(root, "workers/batch/wrangler.toml") });
  const consumer = (queue: string) =>
    config.queues.consumers?.find((c: { queue: string }) => c.queue === queue);

  it("gives the dead-letter consumer the retries its back-off is planned for, and no queue to drop into", () => {
    const dead = consumer(DEAD_LETTER_QUEUE);
    expect(dead?.max_retries).toBe(DEAD_LETTER_MAX_RETRIES);
    expect(dead?.dead_letter_queue).toBeUndefined();
    // The retries outlast three days of outage and end within the queues' default retention (4 days).
    const waited = Array.from({ length: DEAD_LETTER_MAX_RETRIES }, (_, i) =>
      deadLetterRetryDelaySeconds(i + 1),
    );
    const total = waited.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(3 * 86_400);
    expect(total).toBeLessThanOrEqual(4 * 86_400);
  });

  it("caps every consumer's concurrency, so a backlog cannot call the database from hundreds of invocations", () => {
    const caps: number[] = (config.queues.consumers ?? []).map(
      (c: { max_concurrency?: number | null }) => c.max_concurrency ?? Number.POSITIVE_INFINITY,
    );
    expect(caps).toHaveLength(Object.keys(QUEUES).length + 1);
    expect(caps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(30);
  });

  it("retries every job queue through about half an hour of outage, then dead-letters it", () => {
    for (const { queue } of Object.values(QUEUES)) {
      const retries = consumer(queue)?.max_retries ?? 0;
      expect(retries).toBe(JOB_QUEUE_MAX_RETRIES); // what a dead job's attempts count on
      const waited = Array.from({ length: retries }, (_, i) => retryDelaySeconds(i + 1, 1));
      expect(waited.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(30 * 60);
      expect(consumer(queue)?.dead_letter_queue).toBe(DEAD_LETTER_QUEUE);
    }
  });
});

describe("the batch worker's cron triggers", () => {
  // The handler knows a run by its expression: a schedule changed in one place only ran nothing.
  it("are the schedules its handler knows (change both together: workers/batch/src/cron/schedules.ts)", () => {
    const config = unstable_readConfig({ config: path.join(root, "workers/batch/wrangler.toml") });
    expect([...(config.triggers.crons ?? [])].sort()).toEqual(Object.values(CRON).sort());
  });
});
