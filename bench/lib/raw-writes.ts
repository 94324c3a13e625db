import type { JobMessage } from "../../workers/common/jobs";

export type Queue = "notifications" | "analytics" | "content-updates";

/**
 * The ceiling of the consumer benchmark: a batch's rows in one plain statement, with none of
 * the consumer's work (no validation, authorisation, coalescing or outcome per job). Used from
 * Node on an open connection and from a Worker through the same driver as the consumer.
 */
export function rawWrite(queue: Queue, jobs: JobMessage[]): { text: string; params: unknown[] } {
  const cols = [
    jobs.map((j) => j.job_id),
    jobs.map((j) => j.user_id),
    jobs.map((j) => j.tenant_id),
    jobs.map((j) => j.created_at),
  ];
  const from =
    "FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[]) AS x(j, u, t, c) ON CONFLICT DO NOTHING";
  if (queue === "analytics") {
    return {
      text: `INSERT INTO analytics_events (job_id, user_id, tenant_id, created_at, event_type, properties) SELECT j, u, t, c, 'bench.view', '{"n":1}' ${from}`,
      params: cols,
    };
  }
  if (queue === "notifications") {
    // A row per recipient (the sender when the job names none), as the consumer writes them.
    const rows = jobs.flatMap((j) => {
      const named = (j.payload as { recipient_ids?: string[] }).recipient_ids;
      return (named ?? [j.user_id]).map((recipient) => ({ job: j, recipient }));
    });
    return {
      text: `INSERT INTO notifications (job_id, user_id, tenant_id, created_at, type, title, message) SELECT j, u, t, c, 'bench', 'Bench', 'Hello' ${from}`,
      params: [
        rows.map((r) => r.job.job_id),
        rows.map((r) => r.recipient),
        rows.map((r) => r.job.tenant_id),
        rows.map((r) => r.job.created_at),
      ],
    };
  }
  return {
    text: "UPDATE posts p SET content = 'direct edit', updated_at = v.c FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, c) WHERE p.id = v.id",
    params: [jobs.map((j) => (j.payload as { content_id: string }).content_id), cols[3]],
  };
}
