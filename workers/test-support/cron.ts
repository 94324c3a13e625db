import {
  createExecutionContext,
  createScheduledController,
  env,
  waitOnExecutionContext,
} from "cloudflare:test";
import { vi } from "vitest";
import { loggedLines } from "./logs";

/** A worker's scheduled handler, as a test file imports it (the batch worker's default export). */
export interface ScheduledWorker {
  scheduled(controller: ScheduledController, bindings: typeof env, ctx: ExecutionContext): Promise<void>;
}

/**
 * Fires `cron` on `worker` with the test environment and `bindings` over it, and answers once
 * every waitUntil it left has run: how the run ended ("ok" or its error's message), and the
 * lines it logged at each level.
 */
export async function runCron(worker: ScheduledWorker, cron: string, bindings: Partial<typeof env>) {
  const spies = {
    error: vi.spyOn(console, "error"),
    warn: vi.spyOn(console, "warn"),
    info: vi.spyOn(console, "log"),
  };
  try {
    const ctx = createExecutionContext();
    const outcome = await worker
      .scheduled(createScheduledController({ cron, scheduledTime: Date.now() }), { ...env, ...bindings }, ctx)
      .then(
        () => "ok",
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      );
    await waitOnExecutionContext(ctx);
    return {
      outcome,
      errors: loggedLines(spies.error),
      warnings: loggedLines(spies.warn),
      infos: loggedLines(spies.info),
    };
  } finally {
    spies.error.mockRestore();
    spies.warn.mockRestore();
    spies.info.mockRestore();
  }
}
