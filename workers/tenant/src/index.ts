// How validation words its complaints: zod keeps it per isolate and reads it at every parse.
import "../../common/validation";
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../../common/errors";
import { notFoundHandler, onError, requireAdmin, requireJsonBody } from "../../common/http";
import {
  documentAdminToken,
  documentHookToken,
  documentUserToken,
  serveOpenApiDocument,
} from "../../common/openapi";
import { rateLimit } from "../../common/rate-limit";
import type { HonoEnv } from "./env";
import { authenticate } from "./middleware/auth";
import { cors } from "./middleware/cors";
import { requestContext } from "./middleware/request";
import { resolveTenant } from "./middleware/tenant";
import { admin } from "./routes/admin";
import { attendance, myEvents } from "./routes/attendance";
import { audit } from "./routes/audit";
import { comments } from "./routes/comments";
import { events, posts } from "./routes/content";
import { context } from "./routes/context";
import { myExport } from "./routes/export";
import { feed, me } from "./routes/feed";
import { health } from "./routes/health";
import { hooks, requireHookToken } from "./routes/hooks";
import { jobs } from "./routes/jobs";
import { journeys } from "./routes/journeys";
import { likes } from "./routes/likes";
import { members } from "./routes/members";
import { notifications } from "./routes/notifications";
import { eventShares, postShares, shared } from "./routes/shares";

/** Large enough for any admin or job body; anything bigger is refused before it is parsed. */
const MAX_BODY_BYTES = 64 * 1024;

export function createApp() {
  const app = new OpenAPIHono<HonoEnv>();
  app.use("*", requestContext);
  app.onError(onError);
  // Browsers may call the public API from other origins; the admin API is for servers only.
  app.use("/health/*", cors);
  app.use("/openapi.json", cors);
  app.use("/v1/*", cors);
  app.route("/health", health);
  // Only the routes that take a body pay for the check.
  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new ApiError("payload_too_large", `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    },
  });
  app.use("/admin/*", limitBody, requireJsonBody);
  app.use("/v1/jobs/*", limitBody, requireJsonBody);
  app.use("/v1/notifications/*", limitBody, requireJsonBody);
  app.use("/v1/me/*", limitBody, requireJsonBody);
  app.use("/v1/posts/*", limitBody, requireJsonBody);
  app.use("/v1/events/*", limitBody, requireJsonBody);
  app.use("/v1/members/*", limitBody, requireJsonBody);
  app.use("/v1/journeys/*", limitBody, requireJsonBody);
  app.use("/admin/*", rateLimit("ADMIN_RATE_LIMITER"), requireAdmin);
  app.route("/admin", admin);
  // The identity provider's calls: a token and a per-address budget of their own.
  app.use("/hooks/*", limitBody, requireJsonBody, rateLimit("HOOK_RATE_LIMITER"), requireHookToken);
  app.route("/hooks", hooks);
  // The context, jobs, posts, events, members, journeys, what is shared in and the audit log
  // belong to one tenant; the feed and "my communities" span them all.
  // ("/x/*" matches "/x" too: naming both would resolve the tenant twice.)
  app.use("/v1/context/*", resolveTenant);
  app.use("/v1/jobs/*", resolveTenant);
  app.use("/v1/posts/*", resolveTenant);
  app.use("/v1/events/*", resolveTenant);
  app.use("/v1/members/*", resolveTenant);
  app.use("/v1/journeys/*", resolveTenant);
  app.use("/v1/shared/*", resolveTenant);
  app.use("/v1/audit-log/*", resolveTenant);
  app.use("/v1/*", authenticate);
  app.route("/v1/context", context);
  app.route("/v1/jobs", jobs);
  app.route("/v1/posts", posts);
  app.route("/v1/events", events);
  app.route("/v1/events", attendance);
  app.route("/v1/posts", likes);
  app.route("/v1/posts", comments);
  app.route("/v1/posts", postShares);
  app.route("/v1/events", eventShares);
  app.route("/v1/shared", shared);
  app.route("/v1/members", members);
  app.route("/v1/audit-log", audit);
  app.route("/v1/journeys", journeys);
  app.route("/v1/feed", feed);
  app.route("/v1/me/events", myEvents);
  app.route("/v1/me/export", myExport);
  app.route("/v1/me", me);
  app.route("/v1/notifications", notifications);
  documentAdminToken(app);
  documentHookToken(app);
  documentUserToken(app);
  serveOpenApiDocument(app, "Communities tenant API");
  app.notFound(notFoundHandler(app.routes));
  return app;
}

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<HonoEnv["Bindings"]>;
