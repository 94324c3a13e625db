import { z } from "zod";
import { Id } from "./ids";
import { unstorableTextAt } from "./text";
import { PgTime } from "./time";

/**
 * Keyset pages. A list query asks for one row past the page (LIMIT limit + 1): that row says
 * whether another page follows, so an exactly full last page is not followed by an empty one.
 */
export function pageOf<T>(rows: T[], limit: number): { rows: T[]; more: boolean } {
  return { rows: rows.slice(0, limit), more: rows.length > limit };
}

export function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Standard base64 (with `+`, `/` and padding) decodes too. Throws on text that is neither. */
export function fromBase64url(text: string): Uint8Array {
  return Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * An unsigned page cursor: the last row's order keys as base64url JSON, safe in a URL as it is.
 * Only for lists whose query is bounded by who asks (an admin, or the caller's own rows), so a
 * forged cursor can only move within them; the feed's cursors are signed (tenant feed/cursor.ts).
 */
export function encodeKeyset(keys: unknown): string {
  return base64url(encoder.encode(JSON.stringify(keys)));
}

/** The keys a cursor carries, or null when it is not one of `schema`'s. */
export function decodeKeyset<T>(cursor: string, schema: z.ZodType<T>): T | null {
  try {
    const keys = schema.safeParse(JSON.parse(decoder.decode(fromBase64url(cursor))));
    // A forged key with text Postgres cannot take would fail the page's query: a 503, not a 400.
    return keys.success && unstorableTextAt(keys.data) === null ? keys.data : null;
  } catch {
    return null;
  }
}

/**
 * Where a page keyed on (created_at, id) ends: newest first (dead jobs, the inbox, journeys,
 * shares) or oldest first (a post's comments); the cursor is the same either way.
 */
const CreatedKeys = z.object({ created_at: PgTime, id: Id });
export type CreatedPosition = z.infer<typeof CreatedKeys>;

/** The cursor after `last`, an unsigned one (encodeKeyset): for lists bounded by who asks. */
export function createdCursor(last: CreatedPosition): string {
  return encodeKeyset({ created_at: last.created_at, id: last.id });
}

/** The position a cursor names, or null when it is none createdCursor gave. */
export function createdPosition(cursor: string): CreatedPosition | null {
  return decodeKeyset(cursor, CreatedKeys);
}

/** Where a soonest-first page keyed on (start_date, id) ends: the caller's events. */
const SoonestFirstKeys = z.object({ start_date: PgTime, id: Id });
export type SoonestFirstPosition = z.infer<typeof SoonestFirstKeys>;

/** The cursor after `last`, an unsigned one (encodeKeyset): for lists bounded by who asks. */
export function soonestFirstCursor(last: SoonestFirstPosition): string {
  return encodeKeyset({ start_date: last.start_date, id: last.id });
}

/** The position a cursor names, or null when it is none soonestFirstCursor gave. */
export function soonestFirstPosition(cursor: string): SoonestFirstPosition | null {
  return decodeKeyset(cursor, SoonestFirstKeys);
}

/** A yes/no list filter in a query string: `true` or `false`, as written; absent: no filter. */
export const QueryFlag = z.enum(["true", "false"]).transform((v) => v === "true");
