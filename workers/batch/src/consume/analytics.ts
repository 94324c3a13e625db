import { DENIAL_MESSAGES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import type { Handler, Outcomes } from "./types";

type Job = JobOf<"record_analytics">;

/**
 * One INSERT per batch. created_at is the job's enqueue time, so a redelivered job lands in the
 * same partition and (job_id, created_at) catches it.
 */
export const recordAnalytics: Handler<Job> = async (pool, jobs, members) => {
  const outcomes: Outcomes = new Map();
  const accepted = jobs.filter((job) => {
    if (members.get(job.tenant_id, job.user_id)) return true;
    outcomes.set(job.job_id, { kind: "rejected", reason: DENIAL_MESSAGES.not_member });
    return false;
  });
  if (accepted.length === 0) return ok(outcomes);
  const inserted = await attempt(() =>
    pool.query<{ job_id: string }>(
      `INSERT INTO public.analytics_events (job_id, event_type, user_id, tenant_id, properties, created_at)
       SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[], $6::timestamptz[])
       ON CONFLICT (job_id, created_at) DO NOTHING
       RETURNING job_id`,
      [
        accepted.map((j) => j.job_id),
        accepted.map((j) => j.payload.event_type),
        accepted.map((j) => j.user_id),
        accepted.map((j) => j.tenant_id),
        accepted.map((j) => JSON.stringify(j.payload.properties)),
        accepted.map((j) => j.created_at),
      ],
    ),
  );
  if (!inserted.ok) return inserted;
  const written = new Set(inserted.value.rows.map((r) => r.job_id));
  for (const job of accepted)
    outcomes.set(job.job_id, { kind: written.has(job.job_id) ? "written" : "duplicate" });
  return ok(outcomes);
};
