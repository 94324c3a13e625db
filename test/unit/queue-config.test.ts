import path from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { DEAD_LETTER_MAX_RETRIES, DEAD_LETTER_QUEUE, QUEUES } from "../../workers/common/jobs";

const root = path.resolve(import.meta.dirname, "../..");

describe("the batch worker's queue settings", () => {
  const config = unstable_readConfig({ config: path.join(root, "workers/batch/wrangler.toml") });
  const consumer = (queue: string) =>
    config.queues.consumers?.find((c: { queue: string }) => c.queue === queue);

  it("gives the dead-letter consumer the retries its back-off is planned for, and no queue to drop into", () => {
    const dead = consumer(DEAD_LETTER_QUEUE);
    expect(dead?.max_retries).toBe(DEAD_LETTER_MAX_RETRIES);
    expect(dead?.dead_letter_queue).toBeUndefined();
  });

  it("sends every job queue's exhausted messages to the dead-letter queue", () => {
    for (const { queue } of Object.values(QUEUES)) {
      expect(consumer(queue)?.dead_letter_queue).toBe(DEAD_LETTER_QUEUE);
    }
  });
});
