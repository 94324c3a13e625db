import { z } from "zod";

/**
 * An RFC 3339 time Postgres takes: year 0000 is valid ISO 8601 but not a Postgres year. One
 * such date failed the statement of every content update in its batch, on every retry, and in
 * a query (a list's cursor, a discard's `before`) it answered 503 for what is the client's error.
 */
export const PgTime = z.iso
  .datetime({ offset: true })
  .refine((v) => !v.startsWith("0000"), "there is no year 0000 (the year before 0001 is 1 BC)");
