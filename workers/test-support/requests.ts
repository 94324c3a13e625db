import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import type { ErrorBody } from "../common/errors";
import { signToken } from "./tokens";

/** A worker's fetch handler, as a test file imports it (the tenant worker's default export). */
export interface Fetcher {
  fetch(request: Request, bindings: typeof env, ctx: ExecutionContext): Response | Promise<Response>;
}

/** A request of a signed-in user, as the tenant worker's route tests make them. */
export interface UserRequest {
  method: string;
  path: string;
  /** The user id the token is signed for. */
  who: string;
  /** Sent as JSON when given. */
  body?: unknown;
  /** The Host, which names the tenant: `<slug>.localhost`. */
  host: string;
  headers?: Record<string, string>;
}

/**
 * Sends `request` through `worker` with the test environment and `bindings` over it (the test
 * file's DATABASE_URL at least), and answers once every waitUntil it left has run, so a test
 * reads what the request wrote, cache writes included.
 */
export async function requestAs(
  worker: Fetcher,
  request: UserRequest,
  bindings: Partial<typeof env>,
): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = {
    authorization: `Bearer ${await signToken({ sub: request.who })}`,
    ...request.headers,
  };
  if (request.body !== undefined) headers["content-type"] = "application/json";
  const res = await worker.fetch(
    new Request(`http://${request.host}${request.path}`, {
      method: request.method,
      headers,
      body: request.body === undefined ? undefined : JSON.stringify(request.body),
    }),
    { ...env, ...bindings },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

/**
 * Holds what `send` answers to a quick 503 with Retry-After, as a route must while the database
 * is down: within 3 s (the driver's connect timeout and then some), in the one error shape.
 */
export async function expectUnavailableQuickly(path: string, send: () => Promise<Response>): Promise<void> {
  const started = Date.now();
  const res = await send();
  expect(Date.now() - started).toBeLessThan(3_000);
  const { error } = await res.json<ErrorBody>();
  expect([path, res.status, error.code, res.headers.get("retry-after")]).toEqual([
    path,
    503,
    "service_unavailable",
    "5",
  ]);
}

/**
 * Reads a streamed answer's first chunk, runs `meanwhile`, then reads the rest: "whole" when the
 * stream ended, "cut" when it was aborted. A stream the worker writes as it is read (an export)
 * is still being written when `meanwhile` runs. Only a read that fails is "cut": a `meanwhile`
 * that fails fails the test.
 */
export async function readAround(res: Response, meanwhile: () => Promise<unknown>): Promise<"whole" | "cut"> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const read = () =>
    reader.read().then(
      ({ done }) => done,
      () => "cut" as const,
    );
  const first = await read();
  if (first === "cut") return "cut";
  await meanwhile();
  for (;;) {
    const done = await read();
    if (done === "cut") return "cut";
    if (done) return "whole";
  }
}
