import { Hono } from "hono";
import { z } from "zod";
import { DEAD_JOB_KINDS } from "../../../db/schema/dead-jobs";
import { openSql, pingDb } from "../../common/db";
import { ApiError, describeIssues } from "../../common/errors";
import { type BaseEnv, notFoundHandler, onError, requestId, requireAdmin } from "../../common/http";
import { Id } from "../../common/ids";
import { QUEUE_KINDS, QUEUES } from "../../common/jobs";
import { getDeadJob, listDeadJobs, replayDeadJob, replayDeadJobs } from "./admin/dead-jobs";
import type { Env } from "./env";

type AppEnv = BaseEnv & { Bindings: Env };

const ListQuery = z.object({
  kind: z.enum(DEAD_JOB_KINDS).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

/**
 * Bulk replay: `invalid` jobs are not offered (their messages would be refused again); a
 * `rejected` one is worth replaying once the rule it broke no longer holds (a member added).
 */
const BulkReplayQuery = z.object({
  kind: z.enum(["exhausted", "rejected"]).default("exhausted"),
  queue: z.enum(QUEUE_KINDS.map((k) => QUEUES[k].queue) as [string, ...string[]]).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(100),
});

/** A dead job's id from the path, in lower case as Postgres prints it. */
function deadJobId(raw: string): string {
  const id = Id.safeParse(raw);
  if (!id.success) throw new ApiError("validation_failed", "id: a dead job id (UUID)");
  return id.data;
}

function decodeCursor(cursor: string | undefined): { created_at: string; id: string } | undefined {
  if (!cursor) return undefined;
  try {
    const parsed = z
      .object({ created_at: z.iso.datetime({ offset: true }), id: z.guid() })
      .parse(JSON.parse(atob(cursor)));
    return parsed;
  } catch {
    throw new ApiError("invalid_cursor", "the cursor is not one this API gave out");
  }
}

/**
 * The batch worker's HTTP side: health, and the dead-letter admin (list, replay). Jobs arrive by
 * queue, never by HTTP.
 */
export function createBatchApp() {
  const app = new Hono<AppEnv>();
  app.use("*", requestId);
  app.onError(onError);

  app.get("/health", async (c) => {
    const db = await pingDb(c.env);
    if (!db.ok) throw new ApiError("service_unavailable", "database unavailable");
    c.header("Cache-Control", "no-store");
    return c.json({ status: "ok", db: "ok" });
  });

  app.use("/admin/*", requireAdmin);
  app.get("/admin/dead-jobs", async (c) => {
    const query = ListQuery.safeParse(c.req.query());
    if (!query.success) throw new ApiError("validation_failed", describeIssues(query.error.issues, "query"));
    const page = await listDeadJobs(openSql(c.env), {
      ...query.data,
      before: decodeCursor(query.data.cursor),
    });
    if (!page.ok) throw new ApiError("service_unavailable", "database unavailable");
    const { items, more } = page.value;
    const last = more ? items.at(-1) : undefined;
    return c.json({
      items,
      next_cursor: last ? btoa(JSON.stringify({ created_at: last.created_at, id: last.id })) : null,
    });
  });

  app.post("/admin/dead-jobs/replay", async (c) => {
    const query = BulkReplayQuery.safeParse(c.req.query());
    if (!query.success) throw new ApiError("validation_failed", describeIssues(query.error.issues, "query"));
    const replayed = await replayDeadJobs(openSql(c.env), c.env, query.data);
    if (!replayed.ok) {
      throw new ApiError("service_unavailable", "could not replay now, try again");
    }
    return c.json(replayed.value, 202);
  });

  app.get("/admin/dead-jobs/:id", async (c) => {
    const found = await getDeadJob(openSql(c.env), deadJobId(c.req.param("id")));
    if (!found.ok) {
      throw new ApiError("service_unavailable", "database unavailable");
    }
    if (!found.value) throw new ApiError("not_found", "no such dead job");
    return c.json(found.value);
  });

  app.post("/admin/dead-jobs/:id/replay", async (c) => {
    const replayed = await replayDeadJob(openSql(c.env), c.env, deadJobId(c.req.param("id")));
    if (!replayed.ok) {
      const e = replayed.error;
      if (e.kind === "not_found") throw new ApiError("not_found", "no such dead job");
      if (e.kind === "not_replayable") throw new ApiError("conflict", e.message);
      throw new ApiError("service_unavailable", "could not replay now, try again");
    }
    return c.json(replayed.value, 202);
  });

  app.notFound(notFoundHandler(app.routes));
  return app;
}
