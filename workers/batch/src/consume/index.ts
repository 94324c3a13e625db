import { openDb } from "../../../common/db";
import { JobMessage, KIND_BY_QUEUE_NAME, QUEUES, type QueueKind } from "../../../common/jobs";
import { log } from "../../../common/log";
import type { Env } from "../env";
import { recordAnalytics } from "./analytics";
import { updateContent } from "./content";
import { type DeadJobRecord, recordDeadJobs } from "./dead";
import { loadMembers } from "./members";
import { recipientsOf, sendNotifications } from "./notifications";
import type { Handler, Outcome, Outcomes } from "./types";

export const DEAD_LETTER_QUEUE = "jobs-dead-letter";

/** Exponential back-off per delivery attempt; priority 8+ backs off five times faster. */
export function retryDelaySeconds(attempts: number, priority: number): number {
  const base = priority >= 8 ? 1 : 5;
  return Math.min(300, base * 2 ** Math.max(0, attempts - 1));
}

const HANDLERS: { [O in JobMessage["operation"]]: Handler<Extract<JobMessage, { operation: O }>> } = {
  send_notifications: sendNotifications,
  record_analytics: recordAnalytics,
  update_content: updateContent,
};

function jobIdOf(body: unknown): string | null {
  const id = (body as { job_id?: unknown } | null)?.job_id;
  return typeof id === "string" && /^[0-9a-f-]{36}$/i.test(id) ? id : null;
}

interface Tally {
  written: number;
  duplicates: number;
  stale: number;
  rejected: number;
  invalid: number;
  retried: number;
}

/**
 * One batch of one job queue: validate every message, group the valid ones by operation, write
 * each group with one statement, and acknowledge per message: only what committed (or will
 * never be written and is recorded in dead_jobs) is acked; database failures are retried.
 */
export async function consumeJobs(
  batch: MessageBatch<unknown>,
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const started = Date.now();
  const kind = KIND_BY_QUEUE_NAME[batch.queue];
  const tally: Tally = { written: 0, duplicates: 0, stale: 0, rejected: 0, invalid: 0, retried: 0 };
  const handle = openDb(env);
  try {
    const valid: { message: Message<unknown>; job: JobMessage }[] = [];
    const dead: { message: Message<unknown>; record: DeadJobRecord }[] = [];
    for (const message of batch.messages) {
      const parsed = JobMessage.safeParse(message.body);
      if (parsed.success && parsed.data.queue === kind) {
        valid.push({ message, job: parsed.data });
      } else {
        const error = parsed.success
          ? `a ${parsed.data.queue} job on the ${batch.queue} queue`
          : parsed.error.issues
              .slice(0, 5)
              .map((i) => `${i.path.join(".") || "message"}: ${i.message}`)
              .join("; ");
        dead.push({
          message,
          record: {
            jobId: jobIdOf(message.body),
            queue: batch.queue,
            kind: "invalid",
            message: message.body,
            error,
            attempts: message.attempts,
          },
        });
      }
    }

    const outcomes: Outcomes = new Map();
    if (valid.length > 0) {
      valid.sort((a, b) => b.job.priority - a.job.priority);
      const pairs = valid.flatMap(({ job }) => [
        [job.tenant_id, job.user_id] as const,
        ...(job.operation === "send_notifications"
          ? recipientsOf(job).map((r) => [job.tenant_id, r] as const)
          : []),
      ]);
      const members = await loadMembers(handle.pool, pairs);
      const byOperation = new Map<JobMessage["operation"], typeof valid>();
      for (const entry of valid)
        byOperation.set(entry.job.operation, [...(byOperation.get(entry.job.operation) ?? []), entry]);
      for (const [operation, group] of byOperation) {
        const jobs = group.map((g) => g.job);
        const result = members.ok
          ? await (HANDLERS[operation] as Handler<JobMessage>)(handle.pool, jobs, members.value)
          : members;
        for (const job of jobs) {
          const outcome: Outcome | undefined = result.ok
            ? result.value.get(job.job_id)
            : { kind: "retry", error: result.error };
          outcomes.set(
            job.job_id,
            outcome ?? { kind: "retry", error: { kind: "query", message: "no outcome" } },
          );
        }
        if (!result.ok)
          log("warn", "job group failed; retrying", { queue: batch.queue, operation, ...result.error });
      }
      for (const { message, job } of valid) {
        const outcome = outcomes.get(job.job_id);
        if (outcome?.kind === "rejected") {
          dead.push({
            message,
            record: {
              jobId: job.job_id,
              queue: batch.queue,
              kind: "rejected",
              message: job,
              error: outcome.reason,
              attempts: message.attempts,
            },
          });
        }
      }
    }

    // Invalid and rejected jobs are acked only once they are on record; until then, retried.
    const recorded =
      dead.length === 0
        ? { ok: true }
        : await recordDeadJobs(
            handle.pool,
            dead.map((d) => d.record),
          );
    for (const { message, record } of dead) {
      if (recorded.ok) {
        message.ack();
        tally[record.kind === "invalid" ? "invalid" : "rejected"]++;
      } else {
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts, 1) });
        tally.retried++;
      }
    }
    for (const { message, job } of valid) {
      const outcome = outcomes.get(job.job_id);
      if (!outcome || outcome.kind === "rejected") continue;
      if (outcome.kind === "retry") {
        message.retry({ delaySeconds: retryDelaySeconds(message.attempts, job.priority) });
        tally.retried++;
        continue;
      }
      message.ack();
      if (outcome.kind === "written") tally.written++;
      else if (outcome.kind === "duplicate") tally.duplicates++;
      else tally.stale++;
    }
  } finally {
    ctx.waitUntil(handle.close());
    log("info", "batch", {
      queue: batch.queue,
      size: batch.messages.length,
      ...tally,
      duration_ms: Date.now() - started,
    });
  }
}

/** The dead-letter queue: every message that ran out of retries goes on record in dead_jobs. */
export async function consumeDeadLetters(
  batch: MessageBatch<unknown>,
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const handle = openDb(env);
  try {
    const records: DeadJobRecord[] = batch.messages.map((m) => {
      const kind = (m.body as { queue?: unknown } | null)?.queue;
      return {
        jobId: jobIdOf(m.body),
        queue: typeof kind === "string" && kind in QUEUES ? QUEUES[kind as QueueKind].queue : "unknown",
        kind: "exhausted",
        message: m.body,
        error: "retries exhausted; the consumer's log lines for this job id say why",
        attempts: m.attempts,
      };
    });
    const recorded = await recordDeadJobs(handle.pool, records);
    if (recorded.ok) batch.ackAll();
    else batch.retryAll({ delaySeconds: 60 });
    log(recorded.ok ? "warn" : "error", "dead letters", {
      size: batch.messages.length,
      recorded: recorded.ok,
    });
  } finally {
    ctx.waitUntil(handle.close());
  }
}
