export type LogLevel = "debug" | "info" | "warn" | "error";

/** One JSON object per line: what Workers Logs and `wrangler tail` index best. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** An error's name and message for a log line; never sent to a client. */
export function describeError(e: unknown): { error_name: string; error_message: string } {
  if (e instanceof Error) return { error_name: e.name, error_message: e.message };
  return { error_name: "unknown", error_message: String(e) };
}
