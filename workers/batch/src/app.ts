import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { DEAD_JOB_KINDS } from "../../../db/schema/dead-jobs";
import { openSql, pingDb } from "../../common/db";
import { ApiError } from "../../common/errors";
import {
  type BaseEnv,
  createdAfter,
  dbFailure,
  dbUnavailable,
  notFoundHandler,
  onError,
  queueUnavailable,
  requestLog,
  requireAdmin,
  validationHook,
} from "../../common/http";
import { Id } from "../../common/ids";
import { QUEUE_KINDS, QUEUES } from "../../common/jobs";
import { wholeNumberParam } from "../../common/numbers";
import {
  ADMIN_SECURITY,
  documentAdminToken,
  errorResponses,
  jsonResponse,
  NO_SECURITY,
  serveOpenApiDocument,
} from "../../common/openapi";
import { createdCursor, QueryFlag } from "../../common/pages";
import { rateLimit } from "../../common/rate-limit";
import { PgTime } from "../../common/time";
import {
  countDeadJobs,
  discardDeadJob,
  discardDeadJobs,
  getDeadJob,
  listDeadJobs,
  type ReplayError,
  replayDeadJob,
  replayDeadJobs,
} from "./admin/dead-jobs";
import type { Env } from "./env";

type AppEnv = BaseEnv & { Bindings: Env };

/** A job queue by its Cloudflare name, as dead_jobs.queue stores it. */
const QueueName = z.enum(QUEUE_KINDS.map((k) => QUEUES[k].queue) as [string, ...string[]]);

const ListQuery = z.object({
  kind: z.enum(DEAD_JOB_KINDS).optional(),
  queue: QueueName.optional(),
  pending: QueryFlag.optional().describe(
    "true: only jobs not replayed since they last died (what counts calls pending); false: only replayed ones",
  ),
  user_id: Id.optional().describe("only this user's dead jobs (a support request, an audit)"),
  limit: wholeNumberParam(1, 200).default(50),
  cursor: z.string().max(200).optional().describe("next_cursor of the previous page"),
});

/**
 * Bulk replay: `invalid` jobs are not offered (their messages would be refused again); a
 * `rejected` one is worth replaying once the rule it broke no longer holds (a member added).
 */
const BulkReplayQuery = z.object({
  kind: z.enum(["exhausted", "rejected"]).default("exhausted"),
  queue: QueueName.optional(),
  limit: wholeNumberParam(1, 1000).default(1000),
});

/** Bulk discard: `before` is required, so a call reaches only jobs the operator has looked at. */
const BulkDiscardQuery = z.object({
  kind: z.enum(DEAD_JOB_KINDS),
  queue: QueueName.optional(),
  before: PgTime.describe("only jobs that died before this instant"),
  limit: wholeNumberParam(1, 1000).default(1000),
});

/** A dead job's id from the path, in lower case as Postgres prints it. */
const DeadJobParams = z.object({ id: Id });

const DeadJobSummary = z
  .object({
    id: z.guid(),
    job_id: z.guid().nullable().describe("null when the message was too malformed to carry one"),
    user_id: z.guid().nullable().describe("the user the message names, while that user exists"),
    queue: z.string(),
    kind: z.enum(DEAD_JOB_KINDS),
    error: z.string(),
    attempts: z
      .number()
      .int()
      .describe(
        "how many times the job was delivered to be run, over every death: an exhausted job's queue gave it max_retries + 1",
      ),
    created_at: z.string().describe("when it died (last, if it died again after a replay)"),
    replayed_at: z.string().nullable(),
    replay_count: z.number().int(),
  })
  .openapi("DeadJobSummary");
const DeadJob = DeadJobSummary.extend({ message: z.unknown() }).openapi("DeadJob");
const DeadJobPage = z
  .object({ items: z.array(DeadJobSummary), next_cursor: z.string().nullable() })
  .openapi("DeadJobPage");
const Replayed = z.object({ job_id: z.guid(), queue: z.string() }).openapi("Replayed");
const BulkReplayed = z
  .object({
    replayed: z.array(Replayed.extend({ id: z.guid() })),
    not_replayable: z
      .array(z.guid())
      .describe("dead jobs whose stored message is no valid job any more, now kept as invalid"),
    more: z.boolean().describe("call again while true"),
  })
  .openapi("BulkReplayed");
const DeadJobCounts = z
  .object({
    counts: z.array(
      z.object({
        kind: z.enum(DEAD_JOB_KINDS),
        queue: z.string(),
        pending: z.number().int(),
        total: z.number().int(),
        oldest_pending: z.string().nullable(),
      }),
    ),
  })
  .openapi("DeadJobCounts");
const BulkDiscarded = z
  .object({ discarded: z.number().int(), more: z.boolean().describe("call again while true") })
  .openapi("BulkDiscarded");
const Health = z.object({ status: z.literal("ok"), db: z.literal("ok") }).openapi("BatchHealth");

function replayFailure(c: Context<AppEnv>, e: ReplayError): ApiError {
  if (e.kind === "not_found") return new ApiError("not_found", "no such dead job");
  if (e.kind === "not_replayable") return new ApiError("conflict", e.message);
  if (e.kind === "queue") return queueUnavailable("could not replay now, try again", e.message);
  return dbFailure(c, e, "could not replay now, try again");
}

/**
 * The batch worker's HTTP side: health, and the dead-letter admin (list, read, replay), documented
 * at /openapi.json. Jobs arrive by queue, never by HTTP.
 */
export function createBatchApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  app.use("*", requestLog);
  app.onError(onError);

  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      operationId: "getHealth",
      security: NO_SECURITY,
      summary: "The worker and its database answer",
      responses: { 200: jsonResponse(Health, "Healthy"), ...errorResponses(503) },
    }),
    async (c) => {
      const db = await pingDb(c.env);
      if (!db.ok) throw dbUnavailable("database unavailable", db.error);
      c.header("Cache-Control", "no-store");
      return c.json({ status: "ok" as const, db: "ok" as const }, 200);
    },
  );

  app.use("/admin/*", rateLimit("ADMIN_RATE_LIMITER"), requireAdmin);
  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/dead-jobs",
      operationId: "listDeadJobs",
      summary: "Dead jobs, newest first, keyset-paged",
      security: ADMIN_SECURITY,
      request: { query: ListQuery },
      responses: { 200: jsonResponse(DeadJobPage, "One page"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await listDeadJobs(openSql(c.env), {
        kind: query.kind,
        queue: query.queue,
        pending: query.pending,
        userId: query.user_id,
        limit: query.limit,
        before: createdAfter(query.cursor),
      });
      if (!page.ok) throw dbFailure(c, page.error);
      const { items, more } = page.value;
      const last = more ? items.at(-1) : undefined;
      return c.json(
        {
          items,
          next_cursor: last ? createdCursor(last) : null,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/dead-jobs/counts",
      operationId: "countDeadJobs",
      summary:
        "Dead jobs per kind and queue: pending (not replayed since they last died), total, oldest pending",
      security: ADMIN_SECURITY,
      responses: { 200: jsonResponse(DeadJobCounts, "The counts"), ...errorResponses(401, 403, 429, 503) },
    }),
    async (c) => {
      const counts = await countDeadJobs(openSql(c.env));
      if (!counts.ok) throw dbFailure(c, counts.error);
      return c.json({ counts: counts.value }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/dead-jobs/replay",
      operationId: "replayDeadJobs",
      summary:
        "After an outage: send up to `limit` of the oldest dead jobs not replayed since they last died back to their queues",
      security: ADMIN_SECURITY,
      request: { query: BulkReplayQuery },
      responses: { 202: jsonResponse(BulkReplayed, "Sent"), ...errorResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const replayed = await replayDeadJobs(openSql(c.env), c.env, c.req.valid("query"));
      if (!replayed.ok) throw replayFailure(c, replayed.error);
      return c.json(replayed.value, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/dead-jobs/discard",
      operationId: "discardDeadJobs",
      summary:
        "After an incident: discard up to `limit` of the oldest dead jobs of a kind that died before `before`, which will never be replayed",
      security: ADMIN_SECURITY,
      request: { query: BulkDiscardQuery },
      responses: {
        200: jsonResponse(BulkDiscarded, "Discarded"),
        ...errorResponses(400, 401, 403, 429, 503),
      },
    }),
    async (c) => {
      const discarded = await discardDeadJobs(openSql(c.env), c.req.valid("query"));
      if (!discarded.ok) throw dbFailure(c, discarded.error);
      return c.json(discarded.value, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/admin/dead-jobs/{id}",
      operationId: "getDeadJob",
      summary: "One dead job with its stored message",
      security: ADMIN_SECURITY,
      request: { params: DeadJobParams },
      responses: {
        200: jsonResponse(DeadJob, "The dead job"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const found = await getDeadJob(openSql(c.env), c.req.valid("param").id);
      if (!found.ok) throw dbFailure(c, found.error);
      if (!found.value) throw new ApiError("not_found", "no such dead job");
      return c.json(found.value, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/admin/dead-jobs/{id}",
      operationId: "discardDeadJob",
      summary:
        "Discard one dead job: it will never be replayed (an exhausted one is otherwise kept as a write still owed)",
      security: ADMIN_SECURITY,
      request: { params: DeadJobParams },
      responses: {
        200: jsonResponse(DeadJobSummary, "Discarded"),
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const gone = await discardDeadJob(openSql(c.env), c.req.valid("param").id);
      if (!gone.ok) throw dbFailure(c, gone.error);
      if (!gone.value) throw new ApiError("not_found", "no such dead job");
      return c.json(gone.value, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/admin/dead-jobs/{id}/replay",
      operationId: "replayDeadJob",
      summary: "Send one dead job back to its queue; its write happens once however often it is replayed",
      security: ADMIN_SECURITY,
      request: { params: DeadJobParams },
      responses: {
        202: jsonResponse(Replayed, "Sent"),
        ...errorResponses(400, 401, 403, 404, 409, 429, 503),
      },
    }),
    async (c) => {
      const replayed = await replayDeadJob(openSql(c.env), c.env, c.req.valid("param").id);
      if (!replayed.ok) throw replayFailure(c, replayed.error);
      return c.json(replayed.value, 202);
    },
  );

  documentAdminToken(app);
  serveOpenApiDocument(app, "Communities batch worker: health and dead-letter admin");
  app.notFound(notFoundHandler(app.routes));
  return app;
}
