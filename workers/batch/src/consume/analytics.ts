import { ADMIN_ROLES } from "../../../common/authz";
import { attempt } from "../../../common/db";
import type { JobOf } from "../../../common/jobs";
import { ok } from "../../../common/result";
import { type Handler, outcomesOf, type Verdict } from "./types";

type Job = JobOf<"record_analytics">;

/**
 * One call per batch: private.record_analytics (db/migrations/0006) judges (the sender must be
 * a member of an active community) and writes together.
 */
export const recordAnalytics: Handler<Job> = async (sql, jobs) => {
  const result = await attempt(() =>
    sql.query<Verdict>(
      "SELECT job_id, denial, written FROM private.record_analytics($1, $2, $3, $4, $5, $6, $7)",
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
