import { ADMIN_ROLES, type Denial } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok, type Result } from "../../../common/result";
import { microsOf } from "../../../common/time";
import {
  type Handler,
  isRowRefusal,
  type Outcome,
  type Outcomes,
  refusedByDatabase,
  rejected,
} from "./types";

type Job = JobOf<"update_content">;

/**
 * Newest first: a later enqueue wins; equal times are ordered by job id, as in the statement
 * (which compares them as timestamptz: to the microsecond, whatever their spelling).
 */
function newer(a: Job, b: Job): boolean {
  const later = microsOf(a.created_at) - microsOf(b.created_at);
  return later === 0 ? a.job_id > b.job_id : later > 0;
}

const EVENT_FIELDS = [
  "title",
  "description",
  "start_date",
  "end_date",
  "location_name",
  "image_url",
] as const;

/**
 * One call judges and applies a batch of post and event edits: private.update_content
 * (db/migrations/0006; its judging as 0010 redefines it, its lock order as 0019) keeps the newest
 * allowed job per item and applies it only if newer than the row. Parameters: the common ones,
 * ADMIN_ROLES, a post's content, then each event field with a "set" flag (an absent field keeps
 * its value, an explicit null clears it).
 */
function judgeAndUpdate(sql: Queryable, jobs: Job[]) {
  const updates = jobs.map((j) => j.payload.updates as Record<string, unknown>);
  const params = [
    jobs.map((j) => j.job_id),
    jobs.map((j) => j.tenant_id),
    jobs.map((j) => j.user_id),
    jobs.map((j) => j.created_at),
    jobs.map((j) => j.payload.content_type),
    jobs.map((j) => j.payload.content_id),
    ADMIN_ROLES,
    jobs.map((j) => (j.payload.content_type === "posts" ? j.payload.updates.content : null)),
    ...EVENT_FIELDS.flatMap((f) => [
      jobs.map((j, i) => j.payload.content_type === "events" && f in (updates[i] ?? {})),
      jobs.map((j, i) => (j.payload.content_type === "events" ? (updates[i]?.[f] ?? null) : null)),
    ]),
  ];
  const placeholders = params.map((_, i) => `$${i + 1}`).join(", ");
  return sql.query<{ job_id: string; denial: Denial | null; latest: boolean; updated: boolean }>(
    `SELECT job_id, denial, latest, updated FROM private.update_content(${placeholders})`,
    params,
  );
}

function outcomeOf(r: { denial: Denial | null; latest: boolean; updated: boolean }): Outcome {
  if (r.denial) return rejected(r.denial);
  if (!r.latest) return { kind: "superseded" };
  return { kind: r.updated ? "written" : "stale" };
}

/**
 * When the database refuses a winning job's row (isRowRefusal: a constraint the judging did not
 * foresee, such as an event's dates changed between the judging and the UPDATE, or a value it
 * cannot take), the whole statement fails; the jobs are then run one at a time, newest first per
 * item, which gives the verdicts the batch would have had: the first one the rules allow and the
 * table takes wins (written or stale) and the older ones are superseded; a refused one leaves
 * the item to the older ones.
 */
async function oneByOne(sql: Queryable, jobs: Job[], outcomes: Outcomes) {
  const newestFirst = [...jobs].sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0));
  const decided = new Set<string>();
  for (const job of newestFirst) {
    const item = `${job.payload.content_type}:${job.payload.content_id}`;
    if (decided.has(item)) {
      outcomes.set(job.job_id, { kind: "superseded" });
      continue;
    }
    const one = await attempt(() => judgeAndUpdate(sql, [job]));
    if (!one.ok) {
      if (!isRowRefusal(one.error)) return one;
      outcomes.set(job.job_id, refusedByDatabase(one.error));
      continue;
    }
    const [row] = one.value.rows;
    if (!row) continue; // no verdict: the job is retried
    outcomes.set(job.job_id, outcomeOf(row));
    if (!row.denial) decided.add(item);
  }
  return ok(undefined);
}

export const updateContent: Handler<Job> = async (sql, jobs) => {
  const outcomes: Outcomes = new Map();
  const all = await attempt(() => judgeAndUpdate(sql, jobs));
  if (all.ok) {
    for (const r of all.value.rows) outcomes.set(r.job_id, outcomeOf(r));
    return ok(outcomes);
  }
  if (!isRowRefusal(all.error)) return all;
  const split: Result<unknown, DbError> = await oneByOne(sql, jobs, outcomes);
  return split.ok ? ok(outcomes) : split;
};
