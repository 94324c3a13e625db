import { jsonText } from "./text";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** One JSON object per line: what Workers Logs and `wrangler tail` index best. */
export function log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const head = { level, msg, time: new Date().toISOString() };
  let line: string;
  try {
    line = JSON.stringify({ ...head, ...fields });
  } catch {
    // A field carries what a message brought (a bigint, a cycle): each field is written as far as
    // it can be, and the line keeps its level and message whatever one of them holds.
    const safe = Object.entries(fields).map(([k, v]) => [k, JSON.parse(jsonText(v)) as unknown]);
    line = JSON.stringify({ ...head, ...Object.fromEntries(safe) });
  }
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** An error's name and message for a log line; never sent to a client. */
export function describeError(e: unknown): { error_name: string; error_message: string } {
  if (e instanceof Error) return { error_name: e.name, error_message: redactCredentials(e.message) };
  return { error_name: "unknown", error_message: redactCredentials(String(e)) };
}

/**
 * A driver's message with any credentials taken out, for log lines. The Neon driver quotes a
 * malformed connection string whole ("not a valid URL (connection string: …)"), and one with a
 * password in it would otherwise reach Workers Logs.
 */
export function redactCredentials(message: string): string {
  return message
    .replace(/(connection string: )[^)]*/gi, "$1[redacted]")
    .replace(/\/\/[^/@\s]*@/g, "//[redacted]@")
    .replace(/(password=)[^&\s]*/gi, "$1[redacted]");
}
