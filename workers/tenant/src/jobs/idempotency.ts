import { idempotentJobId } from "../../../common/jobs";
import { log } from "../../../common/log";

/** Retries come within minutes; a day covers a client that retries after an outage. */
const TTL_SECONDS = 24 * 60 * 60;

export interface Idempotent {
  /** Job id for the i-th job of the request. */
  jobId(i: number): Promise<string>;
  /** The first attempt's enqueue time: the job must be the same job, timestamp included. */
  createdAt: string;
}

/**
 * With an Idempotency-Key, a retried request must produce the very same jobs: the same ids and
 * the same created_at (the version of a content update, the partition key of an analytics event,
 * which the (job_id, created_at) key relies on). The ids are derived from the key; the first
 * attempt's time is kept in KV. Should KV miss a record (it lags between locations), the retry
 * gets a new time: notifications stay single (keyed by job and recipient), a content update is
 * the same edit again; only an analytics event could be counted twice.
 */
export async function idempotency(
  kv: KVNamespace,
  tenantId: string,
  userId: string,
  key: string,
  count: number,
): Promise<Idempotent> {
  const jobId = (i: number) => idempotentJobId(tenantId, userId, count > 1 ? `${key}#${i}` : key);
  const recordKey = `idem:v1:${await idempotentJobId(tenantId, userId, `${key}#request`)}`;
  const now = new Date().toISOString();
  try {
    const seen = await kv.get<{ created_at: string }>(recordKey, "json");
    if (seen?.created_at) return { jobId, createdAt: seen.created_at };
    await kv.put(recordKey, JSON.stringify({ created_at: now }), { expirationTtl: TTL_SECONDS });
  } catch (e) {
    log("warn", "idempotency record unavailable", { error: e instanceof Error ? e.message : String(e) });
  }
  return { jobId, createdAt: now };
}
