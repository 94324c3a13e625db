import { ADMIN_ROLES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import { MEMBERSHIP } from "./sql";
import { type Handler, outcomesOf, type Verdict } from "./types";

type Job = JobOf<"send_notifications">;

export function recipientsOf(job: Job): string[] {
  return [...new Set(job.payload.recipient_ids ?? [job.user_id])];
}

/**
 * One statement per batch: each job judged by authorizeNotification's rules (the sender must be
 * a member; notifying anyone else needs an admin, and every other recipient must be a member),
 * and a row per recipient of the allowed jobs written; (job_id, user_id) makes redelivery a
 * no-op. Recipients other than the sender are only looked up for jobs that have them.
 */
export const sendNotifications: Handler<Job> = async (sql, jobs) => {
  const recipients = jobs.map(recipientsOf);
  const result = await attempt(() =>
    sql.query<Verdict>(
      `WITH job AS (
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::bool[], $5::text[], $6::text[],
                              $7::text[], $8::jsonb[], $9::timestamptz[])
           AS j(job_id, sender, tenant_id, others, type, title, message, data, created_at)
       ), recipient AS (
         SELECT * FROM unnest($10::uuid[], $11::uuid[]) AS r(job_id, user_id)
       ), verdict AS (
         SELECT j.*,
                CASE WHEN s.member IS NOT TRUE THEN 'not_member'
                     WHEN j.others AND NOT s.admin THEN 'not_admin'
                     WHEN j.others AND EXISTS (
                       SELECT 1 FROM recipient r
                        WHERE r.job_id = j.job_id AND r.user_id <> j.sender
                          AND NOT EXISTS (SELECT FROM (${MEMBERSHIP("j.tenant_id", "r.user_id", "$12")}) m)
                     ) THEN 'recipient_not_member'
                END AS denial
           FROM job j LEFT JOIN LATERAL (${MEMBERSHIP("j.tenant_id", "j.sender", "$12")}) s ON true
       ), written AS (
         INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data, created_at)
         SELECT v.job_id, r.user_id, v.tenant_id, v.type, v.title, v.message, v.data, v.created_at
           FROM verdict v JOIN recipient r ON r.job_id = v.job_id
          WHERE v.denial IS NULL
         ON CONFLICT (job_id, user_id) DO NOTHING
         RETURNING job_id
       )
       SELECT v.job_id, v.denial, v.job_id IN (SELECT job_id FROM written) AS written FROM verdict v`,
      [
        jobs.map((j) => j.job_id),
        jobs.map((j) => j.user_id),
        jobs.map((j) => j.tenant_id),
        jobs.map((j, i) => recipients[i]?.some((r) => r !== j.user_id) ?? false),
        jobs.map((j) => j.payload.type),
        jobs.map((j) => j.payload.title),
        jobs.map((j) => j.payload.message),
        jobs.map((j) => JSON.stringify(j.payload.data)),
        jobs.map((j) => j.created_at),
        jobs.flatMap((j, i) => (recipients[i] ?? []).map(() => j.job_id)),
        recipients.flat(),
        ADMIN_ROLES,
      ],
    ),
  );
  return result.ok ? ok(outcomesOf(result.value.rows)) : result;
};
