import { type JobMessage, QUEUES, type QueueBinding } from "./jobs";
import { err, ok, type Result } from "./result";
import { runsWithin } from "./runs";

/** What sendJobs uses of a Queue binding: structural, so Node tests can import this module too. */
export interface JobQueue {
  send(body: JobMessage, options?: { contentType?: "json" }): Promise<unknown>;
  sendBatch(messages: Iterable<{ body: JobMessage; contentType?: "json" }>): Promise<unknown>;
}

export type QueueBindings = Record<QueueBinding, JobQueue>;

/**
 * Cloudflare Queues takes at most 100 messages and 256 KB in one sendBatch; the byte budget
 * leaves room for each message's own metadata.
 */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 240_000;
const PER_MESSAGE_OVERHEAD_BYTES = 128;

const encoder = new TextEncoder();

/**
 * One queue's jobs in sendBatch-sized runs, in order. An enqueue request's jobs fit one run (its
 * body is at most 64 KiB; unless it is near that, even the 3-bytes-a-unit bound fits and nothing
 * is encoded); a bulk replay of dead jobs, each up to a request's size, may not.
 */
export function batchesOf(jobs: JobMessage[]): JobMessage[][] {
  const texts = jobs.map((job) => JSON.stringify(job));
  // A UTF-16 unit is at most 3 bytes of UTF-8: when even that bound fits, nothing is encoded.
  const bound = texts.reduce((n, t) => n + t.length * 3 + PER_MESSAGE_OVERHEAD_BYTES, 0);
  if (jobs.length <= MAX_BATCH_MESSAGES && bound <= MAX_BATCH_BYTES) return jobs.length > 0 ? [jobs] : [];
  return runsWithin(
    jobs,
    (_, i) => encoder.encode(texts[i]).length + PER_MESSAGE_OVERHEAD_BYTES,
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
  );
}

/**
 * Sends jobs to their queues: one send for one job, sendBatch per queue for many (a request's
 * jobs usually share one queue). All or nothing from the caller's view: on failure it is told to
 * retry. A job id is the idempotency key of its write, so a retry with the same ids (a replay, or
 * a request with an Idempotency-Key) writes nothing twice of what did go out.
 */
export async function sendJobs(queues: QueueBindings, jobs: JobMessage[]): Promise<Result<void, string>> {
  try {
    const [only] = jobs;
    if (only && jobs.length === 1) {
      await queues[QUEUES[only.queue].binding].send(only, { contentType: "json" });
      return ok(undefined);
    }
    const byBinding = new Map<QueueBinding, JobMessage[]>();
    for (const job of jobs) {
      const binding = QUEUES[job.queue].binding;
      const group = byBinding.get(binding);
      if (group) group.push(job);
      else byBinding.set(binding, [job]);
    }
    await Promise.all(
      [...byBinding].flatMap(([binding, group]) =>
        batchesOf(group).map((run) =>
          queues[binding].sendBatch(run.map((body) => ({ body, contentType: "json" as const }))),
        ),
      ),
    );
    return ok(undefined);
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
}
