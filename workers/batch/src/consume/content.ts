import { authorizeContentUpdate, DENIAL_MESSAGES } from "../../../common/authz";
import { attempt, type DbError } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok, type Result } from "../../../common/result";
import type { Handler, Outcomes, Queryable } from "./types";

type Job = JobOf<"update_content">;
type PostJob = Job & { payload: { content_type: "posts" } };
type EventJob = Job & { payload: { content_type: "events" } };

/** Newest first: a later enqueue wins; equal times are ordered by job id so every consumer agrees. */
function newer(a: Job, b: Job): boolean {
  return a.created_at === b.created_at
    ? a.job_id > b.job_id
    : Date.parse(a.created_at) > Date.parse(b.created_at);
}

async function loadContent(
  pool: Queryable,
  jobs: Job[],
): Promise<Result<Map<string, { tenant_id: string; author: string | null }>, DbError>> {
  const posts = jobs.filter((j) => j.payload.content_type === "posts").map((j) => j.payload.content_id);
  const events = jobs.filter((j) => j.payload.content_type === "events").map((j) => j.payload.content_id);
  const found = await attempt(() =>
    pool.query<{ kind: string; id: string; tenant_id: string; author: string | null }>(
      `SELECT 'posts' AS kind, id, tenant_id, user_id AS author FROM public.posts
        WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL
       UNION ALL
       SELECT 'events', id, tenant_id, created_by FROM public.events
        WHERE id = ANY($2::uuid[]) AND deleted_at IS NULL`,
      [posts, events],
    ),
  );
  if (!found.ok) return found;
  return ok(
    new Map(found.value.rows.map((r) => [`${r.kind}:${r.id}`, { tenant_id: r.tenant_id, author: r.author }])),
  );
}

/** Applies only what is newer than the row: updated_at takes the job's time (the trigger keeps it). */
function updatePosts(pool: Queryable, jobs: PostJob[]) {
  return pool.query<{ id: string }>(
    `UPDATE public.posts p
        SET content = v.content, updated_at = v.created_at
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[]) AS v(id, tenant_id, content, created_at)
      WHERE p.id = v.id AND p.tenant_id = v.tenant_id AND p.deleted_at IS NULL AND p.updated_at < v.created_at
      RETURNING p.id`,
    [
      jobs.map((j) => j.payload.content_id),
      jobs.map((j) => j.tenant_id),
      jobs.map((j) => j.payload.updates.content),
      jobs.map((j) => j.created_at),
    ],
  );
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

/** Each field carries a "set" flag, so an absent field keeps its value and an explicit null clears it. */
function updateEvents(pool: Queryable, jobs: EventJob[]) {
  const columns = EVENT_FIELDS.flatMap((f) => [`set_${f}`, f]);
  const casts = EVENT_FIELDS.flatMap((f, i) => [
    `$${4 + 2 * i}::bool[]`,
    `$${5 + 2 * i}::${EVENT_TYPES[f]}[]`,
  ]);
  const sets = EVENT_FIELDS.map((f) => `${f} = CASE WHEN v.set_${f} THEN v.${f} ELSE e.${f} END`);
  const params: unknown[] = [
    jobs.map((j) => j.payload.content_id),
    jobs.map((j) => j.tenant_id),
    jobs.map((j) => j.created_at),
  ];
  for (const f of EVENT_FIELDS) {
    params.push(jobs.map((j) => f in j.payload.updates));
    params.push(jobs.map((j) => (j.payload.updates as Record<string, unknown>)[f] ?? null));
  }
  return pool.query<{ id: string }>(
    `UPDATE public.events e
        SET ${sets.join(", ")}, updated_at = v.created_at
       FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], ${casts.join(", ")})
            AS v(id, tenant_id, created_at, ${columns.join(", ")})
      WHERE e.id = v.id AND e.tenant_id = v.tenant_id AND e.deleted_at IS NULL AND e.updated_at < v.created_at
      RETURNING e.id`,
    params,
  );
}

/** SQLSTATE class 23: this row breaks a constraint (an event ending before it starts). */
const isIntegrityError = (e: DbError) => e.kind === "query" && e.code?.startsWith("23") === true;

/**
 * Runs the set-based update; if one row breaks a constraint the whole statement fails, so the
 * rows are then tried one by one and only the offending ones are rejected.
 */
async function applyEach<J extends Job>(
  pool: Queryable,
  jobs: J[],
  update: (pool: Queryable, jobs: J[]) => Promise<{ rows: { id: string }[] }>,
  outcomes: Outcomes,
): Promise<Result<void, DbError>> {
  if (jobs.length === 0) return ok(undefined);
  const all = await attempt(() => update(pool, jobs));
  const record = (job: J, applied: Set<string>) =>
    outcomes.set(job.job_id, { kind: applied.has(job.payload.content_id) ? "written" : "stale" });
  if (all.ok) {
    const applied = new Set(all.value.rows.map((r) => r.id));
    for (const job of jobs) record(job, applied);
    return ok(undefined);
  }
  if (!isIntegrityError(all.error)) return all;
  const [only] = jobs;
  if (only && jobs.length === 1) {
    outcomes.set(only.job_id, {
      kind: "rejected",
      reason: "the update breaks a rule of the content (e.g. end before start)",
    });
    return ok(undefined);
  }
  for (const job of jobs) {
    const one = await applyEach(pool, [job], update, outcomes);
    if (!one.ok) return one;
  }
  return ok(undefined);
}

/**
 * Authorises each job against the live row and membership, keeps the newest authorised job per
 * content item (coalescing), and applies those in one UPDATE per content type. Authorising before
 * coalescing matters: an unauthorised newer job must not hide an authorised older one.
 */
export const updateContent: Handler<Job> = async (pool, jobs, members) => {
  const outcomes: Outcomes = new Map();
  const content = await loadContent(pool, jobs);
  if (!content.ok) return content;
  const latest = new Map<string, Job>();
  for (const job of jobs) {
    const key = `${job.payload.content_type}:${job.payload.content_id}`;
    const denial = authorizeContentUpdate(
      job.user_id,
      members.get(job.tenant_id, job.user_id),
      content.value.get(key),
      job.tenant_id,
    );
    if (denial) {
      outcomes.set(job.job_id, { kind: "rejected", reason: DENIAL_MESSAGES[denial] });
      continue;
    }
    const current = latest.get(key);
    if (!current || newer(job, current)) {
      if (current) outcomes.set(current.job_id, { kind: "superseded" });
      latest.set(key, job);
    } else {
      outcomes.set(job.job_id, { kind: "superseded" });
    }
  }
  const winners = [...latest.values()];
  const posts = winners.filter((j): j is PostJob => j.payload.content_type === "posts");
  const events = winners.filter((j): j is EventJob => j.payload.content_type === "events");
  const postsDone = await applyEach(pool, posts, updatePosts, outcomes);
  if (!postsDone.ok) return postsDone;
  const eventsDone = await applyEach(pool, events, updateEvents, outcomes);
  if (!eventsDone.ok) return eventsDone;
  return ok(outcomes);
};
