import { ADMIN_ROLES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import { type Handler, outcomesOf, type Verdict } from "./types";

type Job = JobOf<"send_notifications">;

function recipientsOf(job: Job): string[] {
  return [...new Set(job.payload.recipient_ids ?? [job.user_id])];
}

/**
 * One call per batch: private.send_notifications (db/migrations/0030) judges each job by
 * authorizeNotification's rules and writes a row per recipient of the allowed ones, but for
 * recipients who muted its community or its type. `others` says which jobs need the sender to
 * be an admin.
 */
export const sendNotifications: Handler<Job> = async (sql, jobs) => {
  const recipients = jobs.map(recipientsOf);
  const result = await attempt(() =>
    sql.query<Verdict>(
      "SELECT job_id, denial, written, muted FROM private.send_notifications($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
