import { type JobMessage, QUEUES, type QueueBinding } from "../../../common/jobs";
import { err, ok, type Result } from "../../../common/result";

export type QueueBindings = Record<QueueBinding, Queue>;

/**
 * Sends jobs to their queues: one send for one job, one sendBatch per queue for many (a
 * request's jobs usually share one queue). All or nothing from the client's view: on failure
 * it is told to retry, and with an Idempotency-Key the retry cannot double a write.
 */
export async function enqueue(queues: QueueBindings, jobs: JobMessage[]): Promise<Result<void, string>> {
  try {
    const [only] = jobs;
    if (only && jobs.length === 1) {
      await queues[QUEUES[only.queue].binding].send(only, { contentType: "json" });
      return ok(undefined);
    }
    const byBinding = new Map<QueueBinding, JobMessage[]>();
    for (const job of jobs) {
      const binding = QUEUES[job.queue].binding;
      byBinding.set(binding, [...(byBinding.get(binding) ?? []), job]);
    }
    await Promise.all(
      [...byBinding].map(([binding, group]) =>
        queues[binding].sendBatch(group.map((body) => ({ body, contentType: "json" as const }))),
      ),
    );
    return ok(undefined);
  } catch (e) {
    return err(e instanceof Error ? e.message : String(e));
  }
}
