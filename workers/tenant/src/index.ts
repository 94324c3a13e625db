import { OpenAPIHono } from "@hono/zod-openapi";
import type { HonoEnv } from "./env";
import { authenticate } from "./middleware/auth";
import { onError, onNotFound } from "./middleware/errors";
import { requestContext } from "./middleware/request";
import { resolveTenant } from "./middleware/tenant";
import { context } from "./routes/context";
import { health } from "./routes/health";

export function createApp() {
  const app = new OpenAPIHono<HonoEnv>();
  app.use("*", requestContext);
  app.onError(onError);
  app.notFound(onNotFound);
  app.route("/health", health);
  app.use("/v1/*", resolveTenant, authenticate);
  app.route("/v1/context", context);
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Communities tenant API", version: "0.1.0" },
  });
  return app;
}

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<HonoEnv["Bindings"]>;
