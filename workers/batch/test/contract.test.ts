import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import {
  Contract,
  type Document,
  neverAnsweredInFull,
  type Operation,
  operationsOf,
  type Pools,
  requestFor,
} from "../../test-support/openapi";
import { type Random, seeded } from "../../test-support/random";
import worker from "../src/index";

/**
 * Requests made at random from the batch worker's own OpenAPI document, held to what it
 * promises. The dead jobs here hold no valid job (each kind, each queue), so no replay sends one:
 * a replayed job would be consumed against the project's end-to-end database, which other files
 * count dead jobs in. Seeded, so a failure repeats.
 */

let db: WorkerTestDb;
const DEAD = Array.from({ length: 9 }, (_, i) => `c7400000-0000-4000-8000-00000000000${i + 1}`);
const JOB = (i: number) => `c7500000-0000-4000-8000-00000000000${i + 1}`;

beforeAll(async () => {
  db = await useWorkerTestDatabase();
  const kinds = ["invalid", "rejected", "exhausted"];
  const queues = ["notifications", "analytics", "content-updates"];
  await db.query(
    `INSERT INTO dead_jobs (id, job_id, queue, kind, message, error, attempts, created_at)
     SELECT id, CASE WHEN n % 4 = 0 THEN NULL ELSE job END, queue, kind, message, 'broken', n, now() - n * interval '1 hour'
       FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS d(id, job, queue, kind, message, n)`,
    [
      DEAD,
      DEAD.map((_, i) => JOB(i)),
      DEAD.map((_, i) => queues[i % 3]),
      DEAD.map((_, i) => kinds[Math.floor(i / 3)]),
      DEAD.map((_, i) => JSON.stringify({ v: 1, job_id: JOB(i), queue: "analytics", payload: "not a job" })),
    ],
  );
});

async function call(method: string, url: string, headers: Record<string, string>) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, { method, headers }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const pools: Pools = {
  ids: [...DEAD, JOB(0)],
  strings: [
    "invalid",
    "rejected",
    "exhausted",
    "notifications",
    "analytics",
    "content-updates",
    "jobs-dead-letter",
    "true",
    "false",
    "1",
    "0",
    "100",
    "1000",
    "1001",
    "-1",
    "2031-01-01T00:00:00Z",
    "2000-01-01T00:00:00+16:00",
    "",
    "x",
    "%zz",
  ],
};

let doc: Document;
let contract: Contract;
beforeAll(async () => {
  doc = (await (await call("GET", "http://batch.local/openapi.json", {})).json()) as Document;
  contract = new Contract(doc);
});

function make(op: Operation, r: Random) {
  const clean = r.chance(0.4);
  const { path } = requestFor(doc, op, r, { clean, pools, cursors: contract.cursors, idsFor: () => DEAD });
  const headers: Record<string, string> = {
    "cf-connecting-ip": `2001:db8:c2:${r.int(1, 0xffff).toString(16)}::1`,
  };
  const token = clean ? env.ADMIN_TOKEN : r.pick([env.ADMIN_TOKEN, env.ADMIN_TOKEN, "wrong", ""]);
  if (clean || r.chance(0.9)) headers.authorization = `Bearer ${token}`;
  return { method: op.method, url: `http://batch.local${path}`, headers };
}

describe("every answer of the batch worker's HTTP API", () => {
  it("is one its OpenAPI document promises", async () => {
    const ops = operationsOf(doc);
    expect(ops.length).toBeGreaterThanOrEqual(8);
    const r = seeded(20261127);
    const statuses = new Map<string, Set<number>>();
    for (let i = 0; i < 400; i++) {
      const op = r.pick(ops);
      const made = make(op, r);
      const res = await call(made.method, made.url, made.headers);
      await contract.check(op, `${made.method} ${made.url}`, res);
      const route = `${op.method} ${op.path}`;
      statuses.set(route, (statuses.get(route) ?? new Set()).add(res.status));
    }
    expect(statuses.size).toBe(ops.length);
    // Every route answered some request in full, but for replaying one job: none here is valid.
    expect(neverAnsweredInFull(statuses)).toEqual(["POST /admin/dead-jobs/{id}/replay"]);
  });
});
