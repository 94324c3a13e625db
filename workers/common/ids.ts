import { z } from "zod";

/**
 * An id: any 8-4-4-4-12 hex value (z.guid, not z.uuid: Postgres accepts them all, and identity
 * providers and imported data do not always set the RFC version bits), in lower case, as
 * Postgres prints it. Ids are compared and used in cache keys as text, where "A1…" and "a1…"
 * would be two users, so every id a client or a token gives goes through this.
 */
export const Id = z.guid().toLowerCase();

/**
 * A new time-ordered id (UUID version 7, RFC 9562): 48 bits of Unix time in ms, then 74 random
 * bits. The rows a job writes are keyed by its id, and keys made in time order go to the right
 * edge of their indexes instead of a random page (UUID_V7_SQL in db/schema/columns.ts, how
 * Postgres makes the same for its own ids). Ids made in one millisecond are not ordered among
 * themselves; nothing needs them to be.
 */
export function timeOrderedId(now: number = Date.now()): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  for (let i = 5, t = now; i >= 0; i--, t = Math.floor(t / 256)) b[i] = t % 256;
  return uuidText(b, 7);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** 16 bytes as a UUID of the given version (RFC 9562), with the RFC variant bits. */
export function uuidText(bytes: Uint8Array, version: number): string {
  const b = bytes.slice(0, 16);
  b[6] = ((b[6] ?? 0) & 0x0f) | (version << 4);
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => HEX[x]).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
