import type { IncomingMessage, ServerResponse } from "node:http";
import pg from "pg";

/**
 * Neon's SQL-over-HTTP endpoint (`POST /sql`), which the serverless driver's `neon()` client
 * speaks, for a plain local Postgres. Neon's proxy runs these one-shot queries and
 * non-interactive transactions on connections it keeps open, so a Worker pays one HTTPS round
 * trip a query and no connection setup; this does the same with a pool per connection string.
 * Request and response shapes follow the driver (@neondatabase/serverless 1.x): `{query, params}`
 * or `{queries: [...]}`, rows as arrays of text, errors as 400 with Postgres' fields.
 */
export interface SqlOverHttp {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

interface QueryData {
  query: string;
  params?: unknown[];
}

/** The driver parses values itself (Neon-Raw-Text-Output), so every column stays text. */
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

const ISOLATION: Record<string, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

/** Postgres error fields the driver copies onto its NeonDbError. */
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

const MAX_BODY_BYTES = 10 * 1024 * 1024;

/**
 * Neon's endpoint refuses to answer a statement whose rows, as JSON, pass this (its proxy's
 * default, 10 MiB; 507 "response is too large"), rather than hold them all in memory. The
 * workers must never ask for that much, and here they learn it as they would there.
 */
const MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

class ResponseTooLarge extends Error {
  constructor() {
    super(`response is too large (max is ${MAX_RESPONSE_BYTES} bytes)`);
  }
}

function isQueryData(value: unknown): value is QueryData {
  const v = value as QueryData | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.query === "string" &&
    (v.params === undefined || Array.isArray(v.params))
  );
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (typeof body === "string") sendText(res, status, "text/plain", body);
  else sendText(res, status, "application/json", JSON.stringify(body));
}

function sendText(res: ServerResponse, status: number, type: string, text: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * A statement's result as the JSON the driver reads, written once: the size checked is the text
 * that is sent (its rows, and a few hundred bytes of fields, where Neon counts the rows alone).
 */
function resultJson(result: pg.QueryResult<unknown[]>): string {
  const text = JSON.stringify({
    command: result.command,
    rowCount: result.rowCount,
    rows: result.rows,
    rowAsArray: true,
    fields: result.fields.map((f) => ({
      name: f.name,
      tableID: f.tableID,
      columnID: f.columnID,
      dataTypeID: f.dataTypeID,
      dataTypeSize: f.dataTypeSize,
      dataTypeModifier: f.dataTypeModifier,
      format: "text",
    })),
  });
  if (Buffer.byteLength(text) > MAX_RESPONSE_BYTES) throw new ResponseTooLarge();
  return text;
}

async function run(client: pg.PoolClient, q: QueryData): Promise<string> {
  return resultJson(
    await client.query<unknown[]>({
      text: q.query,
      values: q.params ?? [],
      rowMode: "array",
      types: RAW_TEXT,
    }),
  );
}

/**
 * Serves `POST /sql` for connection strings that name the one allowed Postgres address: like
 * the WebSocket bridge, it is never an open relay.
 */
export function sqlOverHttp(target: { host: string; port: number }): SqlOverHttp {
  const pools = new Map<string, pg.Pool>();

  function poolFor(connectionString: string): pg.Pool | undefined {
    let url: URL;
    try {
      url = new URL(connectionString);
    } catch {
      return undefined;
    }
    if (url.hostname !== target.host || Number(url.port || 5432) !== target.port) return undefined;
    let pool = pools.get(connectionString);
    if (!pool) {
      // Few and short-lived: test databases are dropped WITH (FORCE) under idle connections.
      pool = new pg.Pool({ connectionString, max: 8, idleTimeoutMillis: 5_000 });
      pool.on("error", () => undefined);
      // A client whose backend goes while it runs a query (a restart, pg_terminate_backend, a
      // database dropped WITH (FORCE)) fails that query, which answers its request; the pool
      // handles only idle clients' errors, and this one's 'error' event, unhandled, ended the
      // whole process, and the test run or `npm run dev` with it.
      pool.on("connect", (client) => client.on("error", () => undefined));
      pools.set(connectionString, pool);
    }
    return pool;
  }

  async function execute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pool = poolFor(String(req.headers["neon-connection-string"] ?? ""));
    if (!pool) return send(res, 403, { message: "connection string does not name this proxy's Postgres" });
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, { message: "request body is not JSON" });
    }
    const batch = (body as { queries?: unknown } | null)?.queries;
    if (!(Array.isArray(batch) ? batch.every(isQueryData) : isQueryData(body))) {
      return send(res, 400, { message: "expected {query, params} or {queries: [...]}" });
    }
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (e) {
      return send(res, 502, `could not connect to Postgres: ${e instanceof Error ? e.message : String(e)}`);
    }
    let broken = false;
    try {
      if (!Array.isArray(batch)) {
        return sendText(res, 200, "application/json", await run(client, body as QueryData));
      }
      const isolation = ISOLATION[String(req.headers["neon-batch-isolation-level"] ?? "")];
      const readOnly = req.headers["neon-batch-read-only"] === "true";
      const deferrable = req.headers["neon-batch-deferrable"] === "true";
      await client.query(
        `BEGIN${isolation ? ` ISOLATION LEVEL ${isolation}` : ""}${readOnly ? " READ ONLY" : ""}${deferrable ? " DEFERRABLE" : ""}`,
      );
      try {
        const results: string[] = [];
        for (const q of batch as QueryData[]) results.push(await run(client, q));
        await client.query("COMMIT");
        sendText(res, 200, "application/json", `{"results":[${results.join(",")}]}`);
      } catch (e) {
        await client.query("ROLLBACK").catch(() => {
          broken = true;
        });
        throw e;
      }
    } catch (e) {
      if (e instanceof ResponseTooLarge) return send(res, 507, { message: e.message });
      if (!(e instanceof pg.DatabaseError)) {
        broken = true;
        return send(res, 502, `Postgres connection failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      // FATAL ends the backend (57P01: terminated): back in the pool, its client would fail the
      // next request it served, as a broken connection, not as this one's error.
      if (e.severity === "FATAL" || e.severity === "PANIC") broken = true;
      const source = e as unknown as Record<string, unknown>;
      const fields: Record<string, unknown> = { message: source.message };
      for (const k of ERROR_FIELDS) if (source[k] !== undefined) fields[k] = source[k];
      send(res, 400, fields);
    } finally {
      client.release(broken);
    }
  }

  return {
    handle(req, res) {
      execute(req, res).catch((e) => {
        if (!res.headersSent) send(res, 500, `proxy error: ${e instanceof Error ? e.message : String(e)}`);
      });
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => undefined)));
      pools.clear();
    },
  };
}
