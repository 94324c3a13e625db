import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { isNewerFormat } from "../../common/jobs";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { job } from "../../test-support/jobs";
import { DEAD_LETTER_QUEUE } from "../src/consume/retry";
import worker from "../src/index";

/**
 * Batches of jobs damaged at random, each field kept, dropped or replaced by a value a producer
 * could send by mistake (v8, Queues' default content type, carries bigints, Maps, Dates and
 * cycles; JSON carries the rest). The database is up, so only a message of a newer format than
 * the consumer reads may be retried (its consumer is on its way); every other one is written or
 * refused and recorded. Seeded, so a failure repeats.
 */
let db: WorkerTestDb;
const T = "c5000000-0000-4000-8000-000000000001";
const U = "d5000000-0000-4000-8000-000000000001";
const POST = "e5000000-0000-4000-8000-000000000001";

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  await db.query(`
    INSERT INTO tenants (id, slug, name) VALUES ('${T}', 'damaged', 'Damaged');
    INSERT INTO users (id, email) VALUES ('${U}', 'damaged@example.com');
    INSERT INTO tenant_users (tenant_id, user_id, role, is_admin) VALUES ('${T}', '${U}', 'admin', true);
    INSERT INTO posts (id, tenant_id, user_id, content) VALUES ('${POST}', '${T}', '${U}', 'draft');`);
});

/** A small linear congruential generator: the same seed gives the same batches. */
function random(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return { next, pick: <X>(xs: readonly X[]): X => xs[Math.floor(next() * xs.length)] as X };
}

function oddValue(r: ReturnType<typeof random>): unknown {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  return r.pick([
    null,
    undefined,
    0,
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2n ** 64n,
    "",
    "\u0000",
    "\ud800",
    "x".repeat(5_000),
    true,
    [],
    {},
    [1, [2, [3]]],
    { a: { b: 1 } },
    new Date(0),
    new Map([["k", 1]]),
    new Uint8Array(3),
    cyclic,
    "0000-01-01T00:00:00Z",
    "2026-01-01T00:00:00+16:00",
    "constructor",
    "__proto__",
    U,
    T,
    99,
  ]);
}

function damage(
  r: ReturnType<typeof random>,
  value: Record<string, unknown>,
  depth = 0,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value };
  for (const key of Object.keys(out)) {
    const roll = r.next();
    const inner = out[key];
    if (roll < 0.1) out[key] = oddValue(r);
    else if (roll < 0.15) delete out[key];
    else if (roll < 0.3 && inner && typeof inner === "object" && !Array.isArray(inner) && depth < 3) {
      out[key] = damage(r, inner as Record<string, unknown>, depth + 1);
    }
  }
  if (r.next() < 0.1) out[String(oddValue(r))] = oddValue(r);
  return out;
}

const sound = () => [
  job("send_notifications", {
    tenant_id: T,
    user_id: U,
    payload: { type: "t", title: "t", message: "m", data: { a: 1 }, recipient_ids: [U] },
  }),
  job("record_analytics", { tenant_id: T, user_id: U, payload: { event_type: "e", properties: { a: 1 } } }),
  job("update_content", {
    tenant_id: T,
    user_id: U,
    payload: { content_type: "posts", content_id: POST, updates: { content: "c" } },
  }),
];

describe("batches of damaged messages", () => {
  it("never throw, and settle every message: only one of a newer format is retried, on every queue", async () => {
    const r = random(20261127);
    for (let round = 0; round < 200; round++) {
      const queue = r.pick(["notifications", "analytics", "content-updates", DEAD_LETTER_QUEUE]);
      const bodies = Array.from({ length: 1 + Math.floor(r.next() * 8) }, () =>
        r.next() < 0.1 ? oddValue(r) : damage(r, r.pick(sound()) as unknown as Record<string, unknown>),
      );
      const batch = createMessageBatch(
        queue,
        bodies.map((body, i) => ({ id: `m${round}-${i}`, timestamp: new Date(), attempts: 1, body })),
      );
      const ctx = createExecutionContext();
      await worker.queue(batch, { ...env, DATABASE_URL: db.url }, ctx);
      const result = await getQueueResult(batch, ctx);
      const newer = queue === DEAD_LETTER_QUEUE ? 0 : bodies.filter(isNewerFormat).length;
      const acked = result.ackAll ? bodies.length : result.explicitAcks.length;
      expect({ round, queue, acked, retried: result.retryMessages.length }).toEqual({
        round,
        queue,
        acked: bodies.length - newer,
        retried: newer,
      });
    }
  });
});
