import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../../common/errors";
import { dbFailure, denialError, queueUnavailable, validationHook } from "../../../common/http";
import { Id, timeOrderedId } from "../../../common/ids";
import {
  type JobMessage,
  MESSAGE_VERSION,
  Priority,
  RecordAnalyticsPayload,
  SendNotificationsPayload,
  UpdateContentPayload,
} from "../../../common/jobs";
import { errorResponses, USER_SECURITY } from "../../../common/openapi";
import { sendJobs } from "../../../common/queues";
import { rateLimit } from "../../../common/rate-limit";
import { jobTime } from "../../../common/time";
import { findMembership, getMembership } from "../auth/membership";
import type { HonoEnv } from "../env";
import { authorizeJobs } from "../jobs/authorize";
import { IdempotencyHeader, idempotency, KEY_REUSED_MESSAGE } from "../jobs/idempotency";
import { currentUser, requireUser } from "../middleware/auth";
import { defer, getDb, timed } from "../middleware/request";
import { TENANT_PARAMETERS } from "../middleware/tenant";

const priority = Priority.default(1).describe(
  "1-10. Cloudflare Queues deliver in no priority order and a batch is written in one statement, so priority only changes retries: a job of 8 or more that fails is retried after 1, 2, 4... s instead of 5, 10, 20... s.",
);
const common = {
  priority,
  tenant_id: Id.optional().describe("If given, must be the resolved tenant."),
};

/** `queue` picks the one operation it accepts; any field beyond these is refused. */
export const JobRequest = z
  .discriminatedUnion("queue", [
    z
      .object({
        queue: z.literal("notification"),
        operation: z.literal("send_notifications"),
        payload: SendNotificationsPayload,
        ...common,
      })
      .strict(),
    z
      .object({
        queue: z.literal("analytics"),
        operation: z.literal("record_analytics"),
        payload: RecordAnalyticsPayload,
        ...common,
      })
      .strict(),
    z
      .object({
        queue: z.literal("content_update"),
        operation: z.literal("update_content"),
        payload: UpdateContentPayload,
        ...common,
      })
      .strict(),
  ])
  .openapi("JobRequest");
type JobRequest = z.infer<typeof JobRequest>;

const BatchRequest = z
  .object({
    jobs: z
      .array(JobRequest)
      .min(1)
      .max(100)
      .describe("enqueued in this order: of several edits of one post or event, the last is applied"),
  })
  .strict()
  .openapi("JobBatchRequest");

const accepted = (schema: z.ZodType) => ({
  202: { description: "Queued", content: { "application/json": { schema } } },
  ...errorResponses(400, 401, 403, 404, 413, 415, 422, 429, 503),
});

/** Checks, authorises and queues jobs; returns their ids in request order. */
async function accept(
  c: Context<HonoEnv>,
  requests: JobRequest[],
  idempotencyKey: string | undefined,
): Promise<string[]> {
  const tenant = c.get("tenant");
  const user = currentUser(c);
  if (requests.some((r) => r.tenant_id !== undefined && r.tenant_id !== tenant.id)) {
    throw new ApiError("validation_failed", "tenant_id does not match the tenant of this request");
  }
  const member = await getMembership(tenant.id, user.id, {
    kv: c.env.TENANT_CACHE,
    load: () => timed(c, () => findMembership(getDb(c), tenant.id, user.id)),
    waitUntil: (p) => defer(c, p),
  });
  if (!member.ok) throw dbFailure(c, member.error);
  const membership = member.value;
  if (!membership) throw denialError("not_member");

  const verdicts = await timed(c, () => authorizeJobs(getDb(c), tenant.id, user.id, membership, requests));
  if (!verdicts.ok) throw dbFailure(c, verdicts.error);
  const denied = verdicts.value.findIndex((v) => v !== null);
  const reason = verdicts.value[denied];
  if (reason) {
    const where = requests.length > 1 ? `jobs.${denied}: ` : "";
    throw denialError(reason, where);
  }

  const stripped = requests.map(({ tenant_id: _, ...r }) => r);
  const idempotent = idempotencyKey
    ? await idempotency(c.env.TENANT_CACHE, tenant.id, user.id, idempotencyKey, stripped)
    : undefined;
  if (idempotent && !idempotent.ok) {
    throw new ApiError("idempotency_key_reused", KEY_REUSED_MESSAGE);
  }
  const idem = idempotent?.value;
  const now = Date.now();
  const createdAt = idem?.createdAt ?? new Date(now).toISOString();
  const jobs = (await Promise.all(
    stripped.map(async (r, i) => ({
      ...r,
      v: MESSAGE_VERSION,
      job_id: idem ? await idem.jobId(i) : timeOrderedId(now),
      tenant_id: tenant.id,
      user_id: user.id,
      created_at: jobTime(createdAt, i),
    })),
  )) as JobMessage[];
  // In the request's line whether or not the send succeeds: after a failure some may have gone
  // out (one sendBatch per queue), and the line then says which ids to look for downstream.
  const ids = jobs.map((j) => j.job_id);
  c.set("jobIds", ids);
  const sent = await sendJobs(c.env, jobs);
  if (!sent.ok) {
    throw queueUnavailable("the job could not be queued, retry (with an Idempotency-Key)", sent.error);
  }
  return ids;
}

/** What a client may rely on in a job id, which is also the key of the rows the job writes. */
const JobId = z
  .guid()
  .describe(
    "The job's id and the idempotency key of its write: a UUID version 7 stamped with the enqueue time, or with an Idempotency-Key a version 8 derived from it (the same key, tenant and user give the same id)",
  );

export const jobs = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook });
jobs.use("*", requireUser, rateLimit("WRITE_RATE_LIMITER"));
jobs
  .openapi(
    createRoute({
      method: "post",
      path: "/",
      operationId: "enqueueJob",
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: "Queue one job for the batch worker",
      request: {
        headers: IdempotencyHeader,
        body: { content: { "application/json": { schema: JobRequest } }, required: true },
      },
      responses: accepted(z.object({ job_id: JobId })),
    }),
    async (c) => {
      const [jobId] = await accept(c, [c.req.valid("json")], c.req.valid("header")["idempotency-key"]);
      return c.json({ job_id: jobId ?? "" }, 202);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/batch",
      operationId: "enqueueJobs",
      security: USER_SECURITY,
      parameters: TENANT_PARAMETERS,
      summary: "Queue up to 100 jobs at once",
      request: {
        headers: IdempotencyHeader,
        body: { content: { "application/json": { schema: BatchRequest } }, required: true },
      },
      responses: accepted(
        z.object({ job_ids: z.array(JobId).describe("in the order of the request's jobs") }),
      ),
    }),
    async (c) => {
      const ids = await accept(c, c.req.valid("json").jobs, c.req.valid("header")["idempotency-key"]);
      return c.json({ job_ids: ids }, 202);
    },
  );
