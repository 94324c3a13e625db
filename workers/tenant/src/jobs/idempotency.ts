import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../../common/errors";
import { timeOrderedId } from "../../../common/ids";
import { idempotentJobId } from "../../../common/jobs";
import { describeError, log } from "../../../common/log";
import { err, ok, type Result } from "../../../common/result";
import type { HonoEnv } from "../env";
import { currentUser } from "../middleware/auth";

/** Retries come within minutes; a day covers a client that retries after an outage. */
const TTL_SECONDS = 24 * 60 * 60;

/** The header of every route that takes one: the jobs, and new posts, events, journeys and activities. */
export const IdempotencyHeader = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe(
      "Same tenant, user and key give the same id (of a job, or of what the request creates), so a retried request never writes twice.",
    ),
});

export const KEY_REUSED_MESSAGE =
  "this Idempotency-Key was used for a different request; use a new key for a new request";

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
 *
 * The record also keeps a fingerprint of the request (hashed as the record's key is), and a key
 * sent again with another request is refused ("reused"), as the IETF Idempotency-Key draft asks.
 * The ids come from the key and the fingerprint together: where KV cannot tell (two first
 * attempts at once, or a record not yet seen at another location; KV has no compare-and-set),
 * another request under the same key gets ids of its own and is written, never taken for a
 * duplicate of the first and dropped after a 202. A record without a fingerprint (older ones) is
 * not compared.
 */
export async function idempotency(
  kv: KVNamespace,
  tenantId: string,
  userId: string,
  key: string,
  requests: readonly unknown[],
): Promise<Result<Idempotent, "reused">> {
  const recordKey = `idem:v1:${await idempotentJobId(tenantId, userId, `${key}#request`)}`;
  const fingerprint = await idempotentJobId(tenantId, userId, canonicalJson(requests));
  const jobId = (i: number) => idempotentJobId(tenantId, userId, `${key}#${fingerprint}#${i}`);
  const now = new Date().toISOString();
  try {
    const seen = await kv.get<{ created_at: string; fingerprint?: string }>(recordKey, "json");
    if (seen?.created_at) {
      if (seen.fingerprint !== undefined && seen.fingerprint !== fingerprint) return err("reused");
      return ok({ jobId, createdAt: seen.created_at });
    }
    await kv.put(recordKey, JSON.stringify({ created_at: now, fingerprint }), {
      expirationTtl: TTL_SECONDS,
    });
  } catch (e) {
    log("warn", "idempotency record unavailable", describeError(e));
  }
  return ok({ jobId, createdAt: now });
}

/** JSON with every object's keys sorted: the same request, whatever order its fields came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * A new row's id and time, made here by the worker (its clock: see `Made.at`,
 * content/queries.ts). With an Idempotency-Key both are the first attempt's (the id derived from
 * the key and the request, as a job's is), so a retry finds the row it made and answers it
 * again. `request` is what makes the request this one: what it creates, and its body.
 */
export async function newRow(c: Context<HonoEnv>, request: unknown, key: string | undefined) {
  const tenant = c.get("tenant");
  const user = currentUser(c);
  const now = Date.now();
  const made = {
    tenantId: tenant.id,
    userId: user.id,
    id: timeOrderedId(now),
    at: new Date(now).toISOString(),
  };
  if (key === undefined) return made;
  const idem = await idempotency(c.env.TENANT_CACHE, tenant.id, user.id, key, [request]);
  if (!idem.ok) throw new ApiError("idempotency_key_reused", KEY_REUSED_MESSAGE);
  return { ...made, id: await idem.value.jobId(0), at: idem.value.createdAt };
}

/** A retry that overlaps its first attempt, still being written: the next one gets the row. */
export function inFlightError(): ApiError {
  return new ApiError("conflict", "the same request (Idempotency-Key) is being handled; retry it shortly", {
    headers: { "Retry-After": "1" },
  });
}
