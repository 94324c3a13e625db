import { ADMIN_ROLES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import { MEMBERSHIP } from "./sql";
import { type Handler, outcomesOf, type Verdict } from "./types";

type Job = JobOf<"record_analytics">;

/**
 * One statement per batch: judge (the sender must be a member of an active community) and
 * write together. created_at is the job's enqueue time, so a redelivered job lands in the same
 * partition and (job_id, created_at) catches it.
 */
export const recordAnalytics: Handler<Job> = async (sql, jobs) => {
  const result = await attempt(() =>
    sql.query<Verdict>(
      `WITH job AS (
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::uuid[], $5::jsonb[], $6::timestamptz[])
           AS j(job_id, event_type, user_id, tenant_id, properties, created_at)
       ), judged AS (
         SELECT j.*, m.member IS TRUE AS member
           FROM job j LEFT JOIN LATERAL (${MEMBERSHIP("j.tenant_id", "j.user_id", "$7")}) m ON true
       ), written AS (
         INSERT INTO public.analytics_events (job_id, event_type, user_id, tenant_id, properties, created_at)
         SELECT job_id, event_type, user_id, tenant_id, properties, created_at FROM judged WHERE member
         ON CONFLICT (job_id, created_at) DO NOTHING
         RETURNING job_id
       )
       SELECT j.job_id, CASE WHEN NOT j.member THEN 'not_member' END AS denial,
              j.job_id IN (SELECT job_id FROM written) AS written
         FROM judged j`,
      [
        jobs.map((j) => j.job_id),
        jobs.map((j) => j.payload.event_type),
        jobs.map((j) => j.user_id),
        jobs.map((j) => j.tenant_id),
        jobs.map((j) => JSON.stringify(j.payload.properties)),
        jobs.map((j) => j.created_at),
        ADMIN_ROLES,
      ],
    ),
  );
  return result.ok ? ok(outcomesOf(result.value.rows)) : result;
};
