import { expect } from "vitest";
import { z } from "zod";
import { ERROR_STATUS, ErrorBodySchema, type ErrorCode } from "../common/errors";
import { damage, ODD_JSON } from "./damage";
import type { Random } from "./random";

/** The parts of a JSON Schema (as @hono/zod-openapi writes them) that requests are made from. */
interface Schema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
}

interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema?: Schema;
}

export interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body: Schema | undefined;
  responses: Record<
    string,
    { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }
  >;
}

export interface Document {
  paths: Record<
    string,
    Record<
      string,
      Omit<Operation, "method" | "path" | "body"> & {
        requestBody?: { content: Record<string, { schema: Schema }> };
      }
    >
  >;
  components: { schemas: Record<string, Schema> };
}

export function operationsOf(doc: Document): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      parameters: op.parameters ?? [],
      body: op.requestBody?.content["application/json"]?.schema,
      responses: op.responses,
    })),
  );
}

/**
 * A validator for one of the document's schemas. zod reads JSON Schema 2020-12, whose local
 * references point into $defs, where OpenAPI's point into components.
 */
function validatorOf(doc: Document, schema: Schema): z.ZodType {
  const $defs = JSON.parse(
    JSON.stringify(doc.components.schemas).replaceAll("#/components/schemas/", "#/$defs/"),
  );
  const own = JSON.parse(JSON.stringify(schema).replaceAll("#/components/schemas/", "#/$defs/"));
  return z.fromJSONSchema({ ...own, $defs });
}

/** Values a sampled string is drawn from, by what the schema asks for. */
export interface Pools {
  ids: readonly string[];
  strings: readonly string[];
}

const TIMES = ["2026-05-01T10:00:00Z", "2031-01-01T00:00:00.5+02:00", "2026-05-01T09:00:00.123456789Z"];
const URLS = [
  "https://example.com/logo.png",
  "http://img.example/a b.png",
  `https://example.com/${"x".repeat(300)}`,
];
const EMAILS = ["fuzz@example.com", "Ünï@example.com", "a@b"];

/**
 * A value the schema describes, most of the time: strings come from pools (a pattern is met when
 * one of them meets it), so a value may still miss a bound, which the API must refuse cleanly too.
 */
/**
 * How deep a sample goes before it answers empty: far enough for every field a route reads (a
 * batch's job's payload's recipient_ids are at 4), short of the recursion a record of records
 * would run into.
 */
const MAX_SAMPLE_DEPTH = 5;

function sampleOf(doc: Document, schema: Schema, r: Random, pools: Pools, depth = 0): unknown {
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    const target = doc.components.schemas[name];
    return target ? sampleOf(doc, target, r, pools, depth) : null;
  }
  const choices = schema.oneOf ?? schema.anyOf;
  if (choices) return sampleOf(doc, r.pick(choices), r, pools, depth);
  if (schema.allOf) return Object.assign({}, ...schema.allOf.map((s) => sampleOf(doc, s, r, pools, depth)));
  if (schema.enum) return r.pick(schema.enum);
  const type = Array.isArray(schema.type) ? r.pick(schema.type) : schema.type;
  switch (type) {
    case "null":
      return null;
    case "boolean":
      return r.chance(0.5);
    case "integer":
    case "number": {
      const lo = schema.minimum ?? 0;
      const hi = Math.min(schema.maximum ?? lo + 100, lo + 1000);
      const n = r.int(lo, hi);
      return type === "number" && r.chance(0.3) ? n + 0.5 : n;
    }
    case "array": {
      if (depth > MAX_SAMPLE_DEPTH || !schema.items) return [];
      const length = r.int(schema.minItems ?? 0, Math.min(schema.maxItems ?? 3, (schema.minItems ?? 0) + 3));
      return Array.from({ length }, () => sampleOf(doc, schema.items as Schema, r, pools, depth + 1));
    }
    case "object": {
      if (depth > MAX_SAMPLE_DEPTH) return {};
      const out: Record<string, unknown> = {};
      const required = new Set(schema.required ?? []);
      for (const [key, inner] of Object.entries(schema.properties ?? {})) {
        if (required.has(key) || r.chance(0.5)) out[key] = sampleOf(doc, inner, r, pools, depth + 1);
      }
      if (schema.additionalProperties !== false && !schema.properties && r.chance(0.5)) {
        out[r.pick(pools.strings) || "k"] = r.pick([1, "v", { nested: [true] }]);
      }
      return out;
    }
    default:
      return sampleString(schema, r, pools);
  }
}

function sampleString(schema: Schema, r: Random, pools: Pools): string {
  switch (schema.format) {
    case "uuid":
      return r.chance(0.8) ? r.pick(pools.ids) : crypto.randomUUID();
    case "date-time":
      return r.pick(TIMES);
    case "uri":
      return r.pick(URLS);
    case "email":
      return r.pick(EMAILS);
  }
  const fits = (s: string) =>
    s.length >= (schema.minLength ?? 0) &&
    s.length <= (schema.maxLength ?? Number.POSITIVE_INFINITY) &&
    (schema.pattern === undefined || new RegExp(schema.pattern, "u").test(s));
  const fitting = pools.strings.filter(fits);
  return fitting.length > 0 && r.chance(0.9) ? r.pick(fitting) : r.pick(pools.strings);
}

/** An odd value for a request: any of ODD_JSON, or one of the pools' ids, as given or upper-cased. */
function oddJson(r: Random, pools: Pools): unknown {
  return r.chance(0.1) ? r.pick(pools.ids).toUpperCase() : r.pick([...ODD_JSON, r.pick(pools.ids)]);
}

/** How requests for an operation are made: `clean` ones keep to the document and name real ids. */
export interface Plan {
  clean: boolean;
  pools: Pools;
  /** Cursors the worker has handed out, offered back to every operation that takes one. */
  cursors: readonly string[];
  /** The ids a path parameter may name, by what the operation's path says it is. */
  idsFor: (op: Operation, name: string) => readonly string[];
}

function paramValue(doc: Document, op: Operation, name: string, r: Random, plan: Plan): string {
  const param = op.parameters.find((p) => p.name === name);
  if (plan.clean && param?.in === "path") return r.pick(plan.idsFor(op, name));
  if (name === "cursor" && plan.cursors.length > 0 && r.chance(0.6)) return r.pick(plan.cursors);
  if (!plan.clean && r.chance(0.2)) return r.pick(plan.pools.strings);
  const value = param?.schema ? sampleOf(doc, param.schema, r, plan.pools) : r.pick(plan.pools.strings);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The path, query and body of a request for the operation: a clean one with an undamaged body
 * and only documented parameters, any other with damaged, malformed, oversized or mistyped ones.
 */
export function requestFor(
  doc: Document,
  op: Operation,
  r: Random,
  plan: Plan,
): { path: string; body?: string; contentType?: string } {
  const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    // Only values that keep the path this operation's: an empty or ".." segment is another route.
    if (!plan.clean && r.chance(0.15)) return r.pick(["x", "%zz", "a".repeat(300), "-"]);
    return encodeURIComponent(paramValue(doc, op, name, r, plan) || "x");
  });
  const query = new URLSearchParams();
  for (const p of op.parameters.filter((p) => p.in === "query")) {
    // ?tenant= names another tenant than a clean request's X-Tenant (which wins) would.
    if (r.chance(0.5) || (plan.clean && p.name === "tenant")) continue;
    query.append(p.name, paramValue(doc, op, p.name, r, plan));
    if (!plan.clean && r.chance(0.05)) query.append(p.name, paramValue(doc, op, p.name, r, plan));
  }
  if (!plan.clean && r.chance(0.05))
    query.append(r.pick(["extra", "tenant", "limit"]), r.pick(plan.pools.strings));
  const url = query.size > 0 ? `${path}?${query}` : path;
  if (!op.body) return { path: url };
  const roll = plan.clean ? 0 : r.next();
  const sample = sampleOf(doc, op.body, r, plan.pools);
  let body: string;
  if (roll < 0.45) body = JSON.stringify(sample);
  else if (roll < 0.8) body = JSON.stringify(damage(sample, r, () => oddJson(r, plan.pools)));
  else if (roll < 0.88) body = r.pick(["{", "[1,", "nul", '{"a":1}}', "\u0000"]);
  else if (roll < 0.93) body = r.pick(["[]", "null", "1", '"x"', ""]);
  else body = JSON.stringify({ ...(sample as object), pad: "x".repeat(70_000) });
  const contentType =
    plan.clean || r.chance(0.9)
      ? r.pick(["application/json", "application/json; charset=utf-8"])
      : r.pick(["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]);
  return { path: url, body, contentType };
}

/** Holds a worker's answers to what its OpenAPI document promises. */
export class Contract {
  private readonly validators = new Map<string, z.ZodType>();
  /** Cursors found in answers (next_cursor at any depth), at most 200. */
  readonly cursors: string[] = [];

  constructor(readonly doc: Document) {}

  /**
   * The answer's status is one the operation documents, never 500 (the database is up: nothing
   * should be unexpected), and it carries X-Request-Id; an error carries the one error body with a code of that status, its
   * request id and the headers documented for it; a success, a body of the documented schema.
   * Returns the parsed body; `at` names the request in a failure.
   */
  async check(op: Operation, at: string, res: Response): Promise<unknown> {
    const text = await res.text();
    const documented = op.responses[String(res.status)];
    const seen = { at, status: res.status, text: text.slice(0, 500) };
    expect({ ...seen, documented: documented !== undefined }).toEqual({ ...seen, documented: true });
    expect([at, res.status]).not.toEqual([at, 500]);
    // Every answer names its request, so a client can quote it and an operator find its log line.
    expect([at, res.headers.get("x-request-id")]).toEqual([at, expect.stringMatching(/^\S{8,128}$/)]);
    if (res.status === 204) {
      expect([at, text]).toEqual([at, ""]);
      return null;
    }
    expect([at, res.headers.get("content-type")]).toEqual([at, expect.stringMatching(/^application\/json/)]);
    const body: unknown = JSON.parse(text);
    this.collectCursors(body);
    if (res.status >= 400) {
      expect([at, ErrorBodySchema.safeParse(body).success, text]).toEqual([at, true, text]);
      const { code, request_id } = (body as { error: { code: ErrorCode; request_id: string } }).error;
      expect([at, code, ERROR_STATUS[code]]).toEqual([at, code, res.status]);
      expect([at, code, documented?.description.split(" | ").includes(code)]).toEqual([at, code, true]);
      expect([at, request_id]).toEqual([at, res.headers.get("x-request-id")]);
      expect([at, res.headers.get("cache-control")]).toEqual([at, "no-store"]);
      for (const header of Object.keys(documented?.headers ?? {})) {
        expect([at, header, res.headers.has(header)]).toEqual([at, header, true]);
      }
      return body;
    }
    const schema = documented?.content?.["application/json"]?.schema;
    if (schema) {
      const key = `${op.method} ${op.path} ${res.status}`;
      const validator = this.validators.get(key) ?? validatorOf(this.doc, schema);
      this.validators.set(key, validator);
      expect([at, validator.safeParse(body).error?.issues ?? []]).toEqual([at, []]);
    }
    return body;
  }

  private collectCursors(body: unknown): void {
    if (body === null || typeof body !== "object") return;
    for (const [key, value] of Object.entries(body)) {
      if (key.endsWith("cursor") && typeof value === "string") {
        if (this.cursors.length < 200) this.cursors.push(value);
      } else this.collectCursors(value);
    }
  }
}

/** The operations that answered no request in full: where the fuzz never got past the edge. */
export function neverAnsweredInFull(statuses: Map<string, Set<number>>): string[] {
  return [...statuses].filter(([, seen]) => ![...seen].some((s) => s < 300)).map(([route]) => route);
}
