import { openDb } from "../workers/common/db";
import type { JobMessage } from "../workers/common/jobs";

/**
 * The one-row baseline of the consumer benchmark: the same runtime and driver as the real
 * consumer, one statement per message and no checks at all (which only flatters it). It holds a
 * WebSocket session for the batch: one statement per message over SQL-over-HTTP, as the real
 * consumer sends its one, would be slower still.
 */
export default {
  // Typed by shape: this file is also type-checked with the Node project.
  async queue(
    batch: { messages: { body: JobMessage; ack(): void }[] },
    env: { DATABASE_URL: string; LOCAL_DB_PROXY?: string },
  ) {
    const { pool, close } = openDb(env);
    try {
      for (const m of batch.messages) {
        const j = m.body;
        if (j.operation === "record_analytics") {
          await pool.query(
            "INSERT INTO analytics_events (job_id, user_id, tenant_id, created_at, event_type, properties) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            [
              j.job_id,
              j.user_id,
              j.tenant_id,
              j.created_at,
              j.payload.event_type,
              JSON.stringify(j.payload.properties),
            ],
          );
        } else if (j.operation === "send_notifications") {
          await pool.query(
            "INSERT INTO notifications (job_id, user_id, tenant_id, created_at, type, title, message, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            [
              j.job_id,
              j.user_id,
              j.tenant_id,
              j.created_at,
              j.payload.type,
              j.payload.title,
              j.payload.message,
              JSON.stringify(j.payload.data),
            ],
          );
        } else if (j.payload.content_type === "posts") {
          await pool.query(
            "UPDATE posts SET content = $2, updated_at = $3 WHERE id = $1 AND updated_at < $3",
            [j.payload.content_id, j.payload.updates.content, j.created_at],
          );
        }
        m.ack();
      }
    } finally {
      await close();
    }
  },
};
