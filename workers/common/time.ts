import { z } from "zod";

/**
 * An RFC 3339 time Postgres takes. RFC 3339 allows what Postgres refuses: year 0000 (ISO 8601's
 * 1 BC) and offsets past ±15:59 (Postgres' limit on a time zone displacement). One such date
 * failed the statement of every content update in its batch, on every retry, and in a query
 * (a list's cursor, a discard's `before`) it answered 503 for what is the client's error.
 */
export const PgTime = z.iso
  .datetime({ offset: true })
  .refine((v) => !v.startsWith("0000"), "there is no year 0000 (the year before 0001 is 1 BC)")
  .refine((v) => !/[+-](1[6-9]|2\d):\d\d$/.test(v), "a UTC offset of at most ±15:59");
