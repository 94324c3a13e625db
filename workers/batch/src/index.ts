import { createBatchApp } from "./app";
import { consumeDeadLetters, consumeJobs } from "./consume";
import { DEAD_LETTER_QUEUE } from "./consume/retry";
import { runScheduled } from "./cron";
import type { Env } from "./env";

const app = createBatchApp();

export default {
  fetch: app.fetch,

  scheduled: runScheduled,

  async queue(batch, env, _ctx) {
    if (batch.queue === DEAD_LETTER_QUEUE) await consumeDeadLetters(batch, env);
    else await consumeJobs(batch, env);
  },
} satisfies ExportedHandler<Env>;
