import { openSql, type Queryable } from "../../../common/db";
import { describeIssues } from "../../../common/errors";
import { Id } from "../../../common/ids";
import { isNewerFormat, JobMessage, QUEUES, type QueueKind } from "../../../common/jobs";
import { describeError, log } from "../../../common/log";
import { UNSTORABLE_TEXT_MESSAGE, unstorableTextAt } from "../../../common/text";
import type { Env } from "../env";
import { recordAnalytics } from "./analytics";
import { updateContent } from "./content";
import { type DeadJobRecord, recordDeadJobs } from "./dead";
import { sendNotifications } from "./notifications";
import {
  DEAD_LETTER_MAX_RETRIES,
  deadLetterRetryDelaySeconds,
  JOB_QUEUE_MAX_RETRIES,
  retryDelaySeconds,
} from "./retry";
import { type Handler, isolatingRefusals, isRowRefusal, type Outcomes } from "./types";

/** Content updates coalesce per item, so they isolate refused rows in their own way (content.ts). */
const HANDLERS: { [O in JobMessage["operation"]]: Handler<Extract<JobMessage, { operation: O }>> } = {
  send_notifications: isolatingRefusals(sendNotifications),
  record_analytics: isolatingRefusals(recordAnalytics),
  update_content: updateContent,
};

/**
 * A malformed message's job id, when it has a real one (dead_jobs.job_id is a uuid: 36 of any
 * hex digits and dashes, which this took before, failed the statement recording its whole batch).
 */
function jobIdOf(body: unknown): string | null {
  const id = Id.safeParse((body as { job_id?: unknown } | null)?.job_id);
  return id.success ? id.data : null;
}

interface Tally {
  written: number;
  duplicates: number;
  muted: number;
  stale: number;
  rejected: number;
  invalid: number;
  retried: number;
}

interface Delivery {
  message: Message<unknown>;
  job: JobMessage;
  /** The same job id came earlier in this batch: it shares that delivery's outcome. */
  repeat: boolean;
}

/** Validates every message; ones that are not a job of this queue are dead-lettered as invalid. */
function parseBatch(
  batch: MessageBatch<unknown>,
  kind: QueueKind,
): {
  deliveries: Delivery[];
  invalid: DeadJobRecord[];
  invalidMessages: Message<unknown>[];
  newer: Message<unknown>[];
} {
  const deliveries: Delivery[] = [];
  const invalid: DeadJobRecord[] = [];
  const invalidMessages: Message<unknown>[] = [];
  const newer: Message<unknown>[] = [];
  const seen = new Set<string>();
  for (const message of batch.messages) {
    // Retried, not refused: the consumer that reads it is on its way.
    if (isNewerFormat(message.body)) {
      newer.push(message);
      continue;
    }
    const parsed = JobMessage.safeParse(message.body);
    // Text Postgres cannot store would fail the statement of every job in the batch with it.
    const unstorable = parsed.success ? unstorableTextAt(parsed.data) : null;
    if (parsed.success && parsed.data.queue === kind && unstorable === null) {
      deliveries.push({ message, job: parsed.data, repeat: seen.has(parsed.data.job_id) });
      seen.add(parsed.data.job_id);
      continue;
    }
    const error = !parsed.success
      ? describeIssues(parsed.error.issues, "message")
      : unstorable !== null
        ? `${unstorable || "message"}: ${UNSTORABLE_TEXT_MESSAGE}`
        : `a ${parsed.data.queue} job on the ${batch.queue} queue`;
    invalidMessages.push(message);
    invalid.push({
      jobId: jobIdOf(message.body),
      queue: QUEUES[kind].queue,
      kind: "invalid",
      message: message.body,
      error,
      attempts: message.attempts,
    });
  }
  return { deliveries, invalid, invalidMessages, newer };
}

/** Runs each operation's handler on its group of jobs (one statement each, whatever the tenants). */
async function runHandlers(sql: Queryable, queue: string, jobs: JobMessage[]): Promise<Outcomes> {
  const outcomes: Outcomes = new Map();
  const byOperation = new Map<JobMessage["operation"], JobMessage[]>();
  for (const job of jobs) {
    const group = byOperation.get(job.operation);
    if (group) group.push(job);
    else byOperation.set(job.operation, [job]);
  }
  for (const [operation, group] of byOperation) {
    const result = await (HANDLERS[operation] as Handler<JobMessage>)(sql, group);
    // The job ids let an operator follow one job (its 202 gave the id) to why it was retried,
    // and to this line from its dead_jobs record once it runs out of retries.
    if (!result.ok) {
      log("warn", "job group failed; retrying", {
        queue,
        operation,
        ...result.error,
        job_ids: group.map((j) => j.job_id),
      });
    }
    for (const job of group) {
      const outcome = result.ok ? result.value.get(job.job_id) : undefined;
      outcomes.set(
        job.job_id,
        outcome ?? {
          kind: "retry",
          error: result.ok ? { kind: "query", message: "no outcome" } : result.error,
        },
      );
    }
  }
  return outcomes;
}

/**
 * How long the batch's oldest message waited for this run, from when it was sent (retries
 * included): how far the consumer is behind its queue, which its batch line tells an operator.
 */
function lagMs(batch: MessageBatch<unknown>, now: number): number {
  let oldest = now;
  for (const m of batch.messages) {
    const sent = m.timestamp.getTime();
    if (sent < oldest) oldest = sent;
  }
  return now - oldest;
}

/**
 * One batch of one job queue: validate every message, group the valid ones by operation, write
 * each group with one statement, and acknowledge per message: only what committed (or will
 * never be written and is recorded in dead_jobs) is acked; database failures are retried.
 */
export async function consumeJobs(batch: MessageBatch<unknown>, env: Env, kind: QueueKind): Promise<void> {
  const started = Date.now();
  const tally: Tally = { written: 0, duplicates: 0, muted: 0, stale: 0, rejected: 0, invalid: 0, retried: 0 };
  const sql = openSql(env);
  try {
    const { deliveries, invalid, invalidMessages, newer } = parseBatch(batch, kind);
    if (newer.length > 0) {
      log("warn", "messages of a newer format than this consumer reads; retried until it is deployed", {
        queue: batch.queue,
        count: newer.length,
        job_ids: newer.map((m) => jobIdOf(m.body)),
      });
    }
    const firsts = deliveries.filter((d) => !d.repeat);
    const outcomes = await runHandlers(
      sql,
      batch.queue,
      firsts.map((d) => d.job),
    );
    const rejected: DeadJobRecord[] = [];
    for (const { message, job } of firsts) {
      const outcome = outcomes.get(job.job_id);
      if (outcome?.kind === "rejected") {
        rejected.push({
          jobId: job.job_id,
          queue: QUEUES[kind].queue,
          kind: "rejected",
          message: job,
          error: outcome.reason,
          attempts: message.attempts,
        });
      }
    }
    // Invalid and rejected jobs are acked only once they are on record; until then, retried.
    const dead = [...invalid, ...rejected];
    const record = dead.length === 0 ? undefined : await recordDeadJobs(sql, dead);
    const recorded = record === undefined || record.ok;
    if (record && !record.ok) {
      log("warn", "dead jobs could not be recorded; retrying them", {
        queue: batch.queue,
        ...record.error,
        job_ids: dead.map((d) => d.jobId),
      });
    }
    const retry = (message: Message<unknown>, priority: number) => {
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts, priority) });
      tally.retried++;
    };
    for (const message of newer) retry(message, 1);
    for (const message of invalidMessages) {
      if (!recorded) retry(message, 1);
      else {
        message.ack();
        tally.invalid++;
      }
    }
    for (const { message, job, repeat } of deliveries) {
      const outcome = outcomes.get(job.job_id);
      if (!outcome || outcome.kind === "retry" || (outcome.kind === "rejected" && !recorded)) {
        retry(message, job.priority);
        continue;
      }
      message.ack();
      if (outcome.kind === "rejected") tally.rejected++;
      else if (outcome.kind === "written" && !repeat) tally.written++;
      else if (outcome.kind === "written" || outcome.kind === "duplicate") tally.duplicates++;
      else if (outcome.kind === "muted") tally.muted++;
      else tally.stale++;
    }
  } finally {
    log("info", "batch", {
      queue: batch.queue,
      size: batch.messages.length,
      ...tally,
      duration_ms: Date.now() - started,
      lag_ms: lagMs(batch, started),
    });
  }
}

/**
 * A batch from a queue this worker has no consumer for: a configuration error (a queue named
 * apart from isQueueNamed's convention), not bad messages, so they are retried, never refused.
 * Were they dead-lettered as invalid, every job of a misnamed queue would be lost to replay; out
 * of retries, they reach that queue's dead-letter queue as they are.
 */
export function holdUnknownQueue(batch: MessageBatch<unknown>): void {
  log(
    "error",
    "no consumer for this queue: its messages are retried; name it as workers/batch/wrangler.toml does, or <name>-<environment>",
    {
      queue: batch.queue,
      size: batch.messages.length,
      job_ids: batch.messages.map((m) => jobIdOf(m.body)),
    },
  );
  for (const m of batch.messages) m.retry({ delaySeconds: retryDelaySeconds(m.attempts, 1) });
}

/**
 * The messages of a batch on their last delivery, sent to the dead-letter queue again as new
 * messages, with new retries and retention; those whose send went through. Past its last try the
 * queue deletes a message, and the log line that was then its only copy is no safe place: Workers
 * keep 256 KB of log lines an invocation, and a batch of 100 jobs can be megabytes of them. A
 * refused record (a row the database will never take) is not sent again: it would come back
 * for ever.
 */
async function requeueLastTries(batch: MessageBatch<unknown>, env: Env): Promise<Set<Message<unknown>>> {
  const last = batch.messages.filter((m) => m.attempts >= DEAD_LETTER_MAX_RETRIES);
  // v8, the content type that carries back whatever came, well-formed or not.
  const sent = await Promise.allSettled(
    // Async, so a config without the binding is a failed send too, not a thrown batch.
    last.map(async (m) => env.DEAD_LETTER_QUEUE.send(m.body, { contentType: "v8" })),
  );
  const requeued = new Set<Message<unknown>>();
  const failed: { job_id: string | null; error: string }[] = [];
  sent.forEach((result, i) => {
    const m = last[i];
    if (!m) return;
    if (result.status === "fulfilled") requeued.add(m);
    else failed.push({ job_id: jobIdOf(m.body), error: describeError(result.reason).error_message });
  });
  if (failed.length > 0) log("error", "dead letters could not be sent to their queue again", { failed });
  return requeued;
}

/** The dead-letter queue: every message that ran out of retries goes on record in dead_jobs. */
export async function consumeDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const sql = openSql(env);
  const records: DeadJobRecord[] = batch.messages.map((m) => {
    const kind = (m.body as { queue?: unknown } | null)?.queue;
    return {
      jobId: jobIdOf(m.body),
      // Own keys only: "constructor" and the like are in every object, and named none of our
      // queues (its record then failed, and with it the whole batch's).
      queue:
        typeof kind === "string" && Object.hasOwn(QUEUES, kind) ? QUEUES[kind as QueueKind].queue : "unknown",
      kind: "exhausted",
      message: m.body,
      error: "retries exhausted; the consumer's log lines for this job id say why",
      // The tries its own queue gave it. The dead-letter queue counts its deliveries afresh (a
      // message moved there starts again at 1), and those are tries to record it, not to run it.
      attempts: JOB_QUEUE_MAX_RETRIES + 1,
    };
  });
  const recorded = await recordDeadJobs(sql, records);
  if (recorded.ok) batch.ackAll();
  else {
    const requeued = isRowRefusal(recorded.error)
      ? new Set<Message<unknown>>()
      : await requeueLastTries(batch, env);
    if (requeued.size > 0) {
      log(
        "error",
        "dead letters sent to their queue again: the database did not take them in all their retries",
        {
          queue: batch.queue,
          job_ids: [...requeued].map((m) => jobIdOf(m.body)),
          error: recorded.error.message,
        },
      );
    }
    for (const m of batch.messages) {
      if (requeued.has(m)) {
        m.ack();
        continue;
      }
      m.retry({ delaySeconds: deadLetterRetryDelaySeconds(m.attempts) });
      // Its last delivery, and not sent again: the queue deletes it next, so the log line is the
      // job's last copy.
      if (m.attempts >= DEAD_LETTER_MAX_RETRIES) {
        log("error", "dead letter could not be recorded and leaves the queue; the job is in this line", {
          job_id: jobIdOf(m.body),
          attempts: m.attempts,
          job: m.body,
          error: recorded.error.message,
        });
      }
    }
  }
  log(recorded.ok ? "warn" : "error", "dead letters", {
    size: batch.messages.length,
    recorded: recorded.ok,
  });
}
