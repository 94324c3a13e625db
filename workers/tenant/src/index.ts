import { OpenAPIHono } from "@hono/zod-openapi";
import type { HonoEnv } from "./env";
import { onError, onNotFound } from "./middleware/errors";
import { requestContext } from "./middleware/request";
import { health } from "./routes/health";

export function createApp() {
  const app = new OpenAPIHono<HonoEnv>();
  app.use("*", requestContext);
  app.onError(onError);
  app.notFound(onNotFound);
  app.route("/health", health);
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
