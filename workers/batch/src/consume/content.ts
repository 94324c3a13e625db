import { ADMIN_ROLES, DENIAL_MESSAGES, type Denial } from "../../../common/authz";
import { attempt, type DbError, type Queryable } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok, type Result } from "../../../common/result";
import { MEMBERSHIP } from "./sql";
import type { Handler, Outcome, Outcomes } from "./types";

type Job = JobOf<"update_content">;
type ContentType = Job["payload"]["content_type"];

/** Newest first: a later enqueue wins; equal times are ordered by job id, as in the statement. */
function newer(a: Job, b: Job): boolean {
  return a.created_at === b.created_at
    ? a.job_id > b.job_id
    : Date.parse(a.created_at) > Date.parse(b.created_at);
}

const EVENT_FIELDS = [
  "title",
  "description",
  "start_date",
  "end_date",
  "location_name",
  "image_url",
] as const;
const EVENT_TYPES = {
  title: "text",
  description: "text",
  start_date: "timestamptz",
  end_date: "timestamptz",
  location_name: "text",
  image_url: "text",
};

/**
 * What differs between posts and events: the author column, the edited columns (bound from $7
 * on, after the common ones and ADMIN_ROLES), and how they are set. Event fields carry a "set"
 * flag, so an absent field keeps its value and an explicit null clears it.
 */
const TABLES: Record<
  ContentType,
  { author: string; columns: string[]; casts: string[]; set: string; params(jobs: Job[]): unknown[] }
> = {
  posts: {
    author: "user_id",
    columns: ["content"],
    casts: ["$7::text[]"],
    set: "content = l.content",
    params: (jobs) => [
      jobs.map((j) => (j.payload.content_type === "posts" ? j.payload.updates.content : null)),
    ],
  },
  events: {
    author: "created_by",
    columns: EVENT_FIELDS.flatMap((f) => [`set_${f}`, f]),
    casts: EVENT_FIELDS.flatMap((f, i) => [`$${7 + 2 * i}::bool[]`, `$${8 + 2 * i}::${EVENT_TYPES[f]}[]`]),
    set: EVENT_FIELDS.map((f) => `${f} = CASE WHEN l.set_${f} THEN l.${f} ELSE c.${f} END`).join(", "),
    params: (jobs) =>
      EVENT_FIELDS.flatMap((f) => {
        const updates = jobs.map((j) => j.payload.updates as Record<string, unknown>);
        return [updates.map((u) => f in u), updates.map((u) => u[f] ?? null)];
      }),
  },
};

/**
 * One statement per content type: judge each job by authorizeContentUpdate's rules (a member;
 * the content is live and this community's; the author or an admin), keep the newest allowed
 * job per item (judging before coalescing: an unauthorised newer job must not hide an
 * authorised older one), and apply it only if newer than the row (updated_at takes the job's
 * time), so a redelivered older update never overwrites a newer one.
 */
function judgeAndUpdate(sql: Queryable, type: ContentType, jobs: Job[]) {
  const t = TABLES[type];
  return sql.query<{ job_id: string; denial: Denial | null; latest: boolean; updated: boolean }>(
    `WITH job AS (
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::uuid[], ${t.casts.join(", ")})
         AS j(job_id, tenant_id, actor, created_at, content_id, ${t.columns.join(", ")})
     ), judged AS (
       SELECT j.*,
              CASE WHEN m.member IS NOT TRUE THEN 'not_member'
                   WHEN c.tenant_id IS DISTINCT FROM j.tenant_id THEN 'no_such_content'
                   WHEN c.author IS DISTINCT FROM j.actor AND NOT m.admin THEN 'not_author'
              END AS denial
         FROM job j
         LEFT JOIN LATERAL (${MEMBERSHIP("j.tenant_id", "j.actor", "$6")}) m ON true
         LEFT JOIN LATERAL (
           SELECT x.tenant_id, x.${t.author} AS author FROM public.${type} x
            WHERE x.id = j.content_id AND x.deleted_at IS NULL
         ) c ON true
     ), latest AS (
       SELECT DISTINCT ON (content_id) * FROM judged WHERE denial IS NULL
        ORDER BY content_id, created_at DESC, job_id DESC
     ), updated AS (
       UPDATE public.${type} c SET ${t.set}, updated_at = l.created_at
         FROM latest l
        WHERE c.id = l.content_id AND c.tenant_id = l.tenant_id AND c.deleted_at IS NULL
          AND c.updated_at < l.created_at
       RETURNING c.id
     )
     SELECT j.job_id, j.denial,
            EXISTS (SELECT 1 FROM latest l WHERE l.job_id = j.job_id) AS latest,
            EXISTS (SELECT 1 FROM updated u WHERE u.id = j.content_id) AS updated
       FROM judged j`,
    [
      jobs.map((j) => j.job_id),
      jobs.map((j) => j.tenant_id),
      jobs.map((j) => j.user_id),
      jobs.map((j) => j.created_at),
      jobs.map((j) => j.payload.content_id),
      ADMIN_ROLES,
      ...t.params(jobs),
    ],
  );
}

function outcomeOf(r: { denial: Denial | null; latest: boolean; updated: boolean }): Outcome {
  if (r.denial) return { kind: "rejected", reason: DENIAL_MESSAGES[r.denial] };
  if (!r.latest) return { kind: "superseded" };
  return { kind: r.updated ? "written" : "stale" };
}

/** SQLSTATE class 23: a row breaks a constraint (an event ending before it starts). */
const isIntegrityError = (e: DbError) => e.kind === "query" && e.code?.startsWith("23") === true;

const BREAKS_A_RULE = "the update breaks a rule of the content (e.g. end before start)";

/**
 * When one winning job breaks a constraint the whole statement fails; the jobs are then run one
 * at a time, newest first per item, which gives the verdicts the batch would have had: the first
 * one allowed wins (written, stale, or rejected for breaking the rule) and the older ones are
 * superseded.
 */
async function oneByOne(sql: Queryable, type: ContentType, jobs: Job[], outcomes: Outcomes) {
  const newestFirst = [...jobs].sort((a, b) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0));
  const decided = new Set<string>();
  for (const job of newestFirst) {
    if (decided.has(job.payload.content_id)) {
      outcomes.set(job.job_id, { kind: "superseded" });
      continue;
    }
    const one = await attempt(() => judgeAndUpdate(sql, type, [job]));
    if (!one.ok && !isIntegrityError(one.error)) return one;
    const row = one.ok ? one.value.rows[0] : undefined;
    if (one.ok && !row) continue; // no verdict: the job is retried
    outcomes.set(job.job_id, row ? outcomeOf(row) : { kind: "rejected", reason: BREAKS_A_RULE });
    // A job refused by the rules of who may edit leaves the item to the older ones.
    if (!row?.denial) decided.add(job.payload.content_id);
  }
  return ok(undefined);
}

export const updateContent: Handler<Job> = async (sql, jobs) => {
  const outcomes: Outcomes = new Map();
  for (const type of ["posts", "events"] as const) {
    const group = jobs.filter((j) => j.payload.content_type === type);
    if (group.length === 0) continue;
    const all = await attempt(() => judgeAndUpdate(sql, type, group));
    if (all.ok) {
      for (const r of all.value.rows) outcomes.set(r.job_id, outcomeOf(r));
      continue;
    }
    if (!isIntegrityError(all.error)) return all;
    const split: Result<unknown, DbError> = await oneByOne(sql, type, group, outcomes);
    if (!split.ok) return split;
  }
  return ok(outcomes);
};
