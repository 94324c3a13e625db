import { z } from "zod";

/**
 * The years RFC 3339 can write, in UTC. Postgres takes times past them ("9999-12-31T23:59:59-05:00"
 * is in year 10000 in UTC, a sentinel some clients send for "no end"), but writes them back as
 * "10000-01-01T04:59:59+00:00" or with " BC", which no RFC 3339 parser reads: not JavaScript's
 * Date, nor the feed's cursor, nor most clients.
 */
const FIRST_MS = Date.parse("0001-01-01T00:00:00Z");
const PAST_LAST_MS = Date.parse("+010000-01-01T00:00:00Z");

/**
 * An RFC 3339 time Postgres takes, and gives back as one. RFC 3339 allows what Postgres refuses:
 * year 0000 (ISO 8601's 1 BC) and offsets past ±15:59 (Postgres' limit on a time zone
 * displacement). One such date failed the statement of every content update in its batch, on
 * every retry, and in a query (a list's cursor, a discard's `before`) it answered 503 for what is
 * the client's error.
 */
export const PgTime = z.iso
  .datetime({ offset: true })
  .refine((v) => !v.startsWith("0000"), "there is no year 0000 (the year before 0001 is 1 BC)")
  .refine((v) => !/[+-](1[6-9]|2\d):\d\d$/.test(v), "a UTC offset of at most ±15:59")
  .refine((v) => {
    // An offset moves a time by less than a day: only years 0001 and 9999 can leave the range.
    const year = v.slice(0, 4);
    if (year > "0001" && year < "9999") return true;
    // In whole seconds: microseconds since the epoch outgrow a double's integers after 2255.
    const { secondMs, us } = partsOf(v);
    return secondMs >= FIRST_MS && secondMs + (us === 1_000_000 ? 1000 : 0) < PAST_LAST_MS;
  }, "a time from 0001-01-01 to 9999-12-31 in UTC")
  .describe(
    "RFC 3339, from 0001-01-01 to 9999-12-31 in UTC, with a UTC offset of at most ±15:59; kept to the microsecond (more digits are rounded, as Postgres rounds them)",
  );

/** A time in an answer, as Postgres prints it (`to_json(t) #>> '{}'`): a client keeps every digit. */
export const PrintedTime = z.string().describe("as Postgres prints it: microseconds and an offset");

/**
 * An RFC 3339 time in microseconds since the epoch, as Postgres reads it: Date.parse drops what
 * follows the milliseconds, and Postgres times (timestamptz, to the microsecond) and job times
 * (jobTime) are ordered by it. A client may write more digits (Go and Java write nanoseconds):
 * Postgres reads the fraction as a double and rounds it with rint (half to even), and so does
 * this, so the enqueue API judges a date as the consumer's statement will. Exact until 2255,
 * where microseconds since the epoch outgrow a double's integers; later times, as Postgres' own
 * microseconds read into a Number, round to a step of up to 32 µs.
 */
export function microsOf(time: string): number {
  const { secondMs, us } = partsOf(time);
  return secondMs * 1000 + us;
}

/** The time's whole second (epoch ms) and its fraction in microseconds, 0 to 1,000,000. */
function partsOf(time: string): { secondMs: number; us: number } {
  const fraction = /\.(\d+)/.exec(time)?.[1];
  if (fraction === undefined) return { secondMs: Date.parse(time), us: 0 };
  return {
    secondMs: Date.parse(time.replace(`.${fraction}`, "")),
    us: roundHalfEven(Number(`0.${fraction}`) * 1_000_000),
  };
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
