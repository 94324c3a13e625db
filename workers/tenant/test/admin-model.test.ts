import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { useWorkerTestDatabase, type WorkerTestDb } from "../../test-support/db";
import { seeded } from "../../test-support/random";
import worker from "../src/index";
import { tenantCacheFor } from "../src/tenancy/cache";
import { tenantDirectory } from "../src/tenancy/directory";

/**
 * Random sequences of admin writes (create, rename, move or drop a custom domain, deactivate,
 * reactivate) over a few slugs and domains, so that names pass from tenant to tenant. After
 * each write, every name resolves as a model of the table says: in this isolate (L1, kept by
 * the write) and in a fresh isolate (KV and the directory, as the write left them). Seeded, so a
 * failure repeats.
 */

let db: WorkerTestDb;
beforeAll(async () => {
  db = await useWorkerTestDatabase();
});

const SLUGS = ["model-1", "model-2", "model-3", "model-4"];
const DOMAINS = ["one.model.example", "two.model.example", "three.model.example"];

interface Tenant {
  id: string;
  slug: string;
  domain: string | null;
  active: boolean;
}

async function call(method: string, url: string, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(url, {
      method,
      headers:
        method === "GET"
          ? {}
          : {
              authorization: `Bearer ${env.ADMIN_TOKEN}`,
              "content-type": "application/json",
              "cf-connecting-ip": `2001:db8:d0:${Math.floor(Math.random() * 0xffff).toString(16)}::1`,
            },
      body: body === undefined ? undefined : JSON.stringify(body),
    }),
    { ...env, DATABASE_URL: db.url },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/** Which tenant each name resolves to now (its id, or null for 404), as a client sees it. */
async function resolved(): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const name of [...SLUGS, ...DOMAINS]) {
    const url = name.includes(".") ? `http://${name}/v1/context` : `http://${name}.localhost/v1/context`;
    const res = await call("GET", url);
    expect([name, res.status]).toEqual([name, expect.toBeOneOf([200, 404])]);
    out[name] = res.status === 200 ? ((await res.json()) as { tenant: { id: string } }).tenant.id : null;
  }
  return out;
}

function expected(model: Tenant[]): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const name of SLUGS) out[name] = model.find((t) => t.active && t.slug === name)?.id ?? null;
  for (const name of DOMAINS) out[name] = model.find((t) => t.active && t.domain === name)?.id ?? null;
  return out;
}

describe("names after a sequence of admin writes", () => {
  it("resolve as the table says, in this isolate and in a fresh one, after every write", async () => {
    const r = seeded(20261127);
    const model: Tenant[] = [];
    const taken = (field: "slug" | "domain", value: string | null, except?: string) =>
      value !== null && model.some((t) => t.id !== except && t[field] === value);
    for (let step = 0; step < 60; step++) {
      const target = model.length > 0 && r.chance(0.8) ? r.pick(model) : undefined;
      const fields: Record<string, unknown> = {};
      if (!target || r.chance(0.5)) fields.slug = r.pick(SLUGS);
      if (!target || r.chance(0.4)) fields.domain = r.chance(0.3) ? null : r.pick(DOMAINS);
      if (target && (r.chance(0.3) || Object.keys(fields).length === 0)) fields.is_active = r.chance(0.5);
      const res = target
        ? await call("PATCH", `http://api.localhost/admin/tenants/${target.id}`, fields)
        : await call("POST", "http://api.localhost/admin/tenants", { name: `Model ${step}`, ...fields });
      const conflict =
        taken("slug", (fields.slug as string | undefined) ?? null, target?.id) ||
        taken("domain", (fields.domain as string | null | undefined) ?? null, target?.id);
      const at = { step, target: target?.slug, fields };
      expect({ ...at, status: res.status }).toEqual({ ...at, status: conflict ? 409 : target ? 200 : 201 });
      if (!conflict) {
        const row = (await res.json()) as { id: string };
        const tenant = target ?? { id: row.id, slug: "", domain: null, active: true };
        if (!target) model.push(tenant);
        if (fields.slug !== undefined) tenant.slug = fields.slug as string;
        if (fields.domain !== undefined) tenant.domain = fields.domain as string | null;
        if (fields.is_active !== undefined) tenant.active = fields.is_active as boolean;
      }
      const want = expected(model);
      expect({ ...at, isolate: "this", resolved: await resolved() }).toEqual({
        ...at,
        isolate: "this",
        resolved: want,
      });
      tenantCacheFor(env).l1.clear();
      tenantDirectory.reset();
      expect({ ...at, isolate: "fresh", resolved: await resolved() }).toEqual({
        ...at,
        isolate: "fresh",
        resolved: want,
      });
    }
  }, 120_000);
});
