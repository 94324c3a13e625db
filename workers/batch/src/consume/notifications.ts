import { authorizeNotification, DENIAL_MESSAGES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import type { Handler, Outcomes } from "./types";

type Job = JobOf<"send_notifications">;

export function recipientsOf(job: Job): string[] {
  return [...new Set(job.payload.recipient_ids ?? [job.user_id])];
}

/** One INSERT of every recipient row of every authorised job; (job_id, user_id) makes redelivery a no-op. */
export const sendNotifications: Handler<Job> = async (pool, jobs, members) => {
  const outcomes: Outcomes = new Map();
  const rows = { job: [] as string[], user: [] as string[], tenant: [] as string[], type: [] as string[] };
  const text = { title: [] as string[], message: [] as string[], data: [] as string[], at: [] as string[] };
  const accepted: Job[] = [];
  for (const job of jobs) {
    const recipients = recipientsOf(job);
    const denial = authorizeNotification(
      job.user_id,
      members.get(job.tenant_id, job.user_id),
      recipients,
      (u) => members.get(job.tenant_id, u) !== undefined,
    );
    if (denial) {
      outcomes.set(job.job_id, { kind: "rejected", reason: DENIAL_MESSAGES[denial] });
      continue;
    }
    accepted.push(job);
    for (const recipient of recipients) {
      rows.job.push(job.job_id);
      rows.user.push(recipient);
      rows.tenant.push(job.tenant_id);
      rows.type.push(job.payload.type);
      text.title.push(job.payload.title);
      text.message.push(job.payload.message);
      text.data.push(JSON.stringify(job.payload.data));
      text.at.push(job.created_at);
    }
  }
  if (accepted.length === 0) return ok(outcomes);
  const inserted = await attempt(() =>
    pool.query<{ job_id: string }>(
      `INSERT INTO public.notifications (job_id, user_id, tenant_id, type, title, message, data, created_at)
       SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::timestamptz[])
       ON CONFLICT (job_id, user_id) DO NOTHING
       RETURNING job_id`,
      [rows.job, rows.user, rows.tenant, rows.type, text.title, text.message, text.data, text.at],
    ),
  );
  if (!inserted.ok) return inserted;
  const written = new Set(inserted.value.rows.map((r) => r.job_id));
  for (const job of accepted)
    outcomes.set(job.job_id, { kind: written.has(job.job_id) ? "written" : "duplicate" });
  return ok(outcomes);
};
