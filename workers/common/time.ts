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

/**
 * An RFC 3339 time in microseconds since the epoch, as Postgres reads it: Date.parse drops what
 * follows the milliseconds, and Postgres times (timestamptz, to the microsecond) and job times
 * (jobTime) are ordered by it. A client may write more digits (Go and Java write nanoseconds):
 * Postgres reads the fraction as a double and rounds it with rint (half to even), and so does
 * this, so the enqueue API judges a date as the consumer's statement will.
 */
export function microsOf(time: string): number {
  const fraction = /\.(\d+)/.exec(time)?.[1];
  if (fraction === undefined) return Date.parse(time) * 1000;
  const seconds = Date.parse(time.replace(`.${fraction}`, ""));
  return seconds * 1000 + roundHalfEven(Number(`0.${fraction}`) * 1_000_000);
}

/** C's rint in its default rounding mode, for the non-negative values microsOf gives it. */
function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest !== 0.5) return rest < 0.5 ? floor : floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * The enqueue time of the `index`-th job of one request: the request's time, as toISOString
 * writes it, and `index` microseconds more (a request holds at most 100 jobs, so all stay in its
 * millisecond). With one time for all of them, two edits of one item in a request were ordered
 * by job id, at random within a millisecond, instead of as the request lists them; and the later
 * edit, delivered in a later batch than the earlier one, was not newer than what that one wrote.
 */
export function jobTime(requestTime: string, index: number): string {
  const ms = /^(.+\.\d{3})Z$/.exec(requestTime)?.[1];
  if (ms === undefined || !Number.isInteger(index) || index < 0 || index > 999) {
    throw new RangeError(`no job time for ${requestTime} and index ${index}`);
  }
  return `${ms}${String(index).padStart(3, "0")}Z`;
}
