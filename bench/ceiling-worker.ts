import { openSql } from "../workers/common/db";
import type { JobMessage } from "../workers/common/jobs";
import { type Queue, rawWrite } from "./lib/raw-writes";

/**
 * The consumer benchmark's ceiling in the consumer's own runtime: the batch's rows in one plain
 * statement through the same driver and transport, no checks at all.
 */
export default {
  // Typed by shape: this file is also type-checked with the Node project.
  async queue(
    batch: { queue: string; messages: { body: JobMessage; ack(): void }[] },
    env: { DATABASE_URL: string; LOCAL_DB_PROXY?: string },
  ) {
    const { text, params } = rawWrite(
      batch.queue as Queue,
      batch.messages.map((m) => m.body),
    );
    await openSql(env).query(text, params);
    for (const m of batch.messages) m.ack();
  },
};
