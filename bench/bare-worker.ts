import { Hono } from "hono";

/** The bare Hono route the tenant worker is measured against: no middleware, no cache, no db. */
const app = new Hono();
app.get("/v1/context", (c) => c.json({ tenant: { slug: "bare" }, user: null }));
export default {
  fetch: app.fetch,
  /** An empty consumer: what the harness itself costs to deliver a batch. */
  async queue(batch: { messages: { ack(): void }[] }) {
    for (const m of batch.messages) m.ack();
  },
};
