// How validation words its complaints: zod keeps it per isolate and reads it at every parse.
import "../../common/validation";
import { isQueueNamed, queueKindOf } from "../../common/jobs";
import { createBatchApp } from "./app";
import { consumeDeadLetters, consumeJobs, holdUnknownQueue } from "./consume";
import { DEAD_LETTER_QUEUE } from "./consume/retry";
import { runScheduled } from "./cron";
import type { Env } from "./env";

const app = createBatchApp();

export default {
  fetch: app.fetch,

  scheduled: runScheduled,

  async queue(batch, env, _ctx) {
    if (isQueueNamed(batch.queue, DEAD_LETTER_QUEUE)) return consumeDeadLetters(batch, env);
    const kind = queueKindOf(batch.queue);
    if (kind) return consumeJobs(batch, env, kind);
    holdUnknownQueue(batch);
  },
} satisfies ExportedHandler<Env>;
