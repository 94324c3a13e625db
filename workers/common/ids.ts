import { z } from "zod";

/**
 * An id: any 8-4-4-4-12 hex value (z.guid, not z.uuid: Postgres accepts them all, and identity
 * providers and imported data do not always set the RFC version bits), in lower case, as
 * Postgres prints it. Ids are compared and used in cache keys as text, where "A1…" and "a1…"
 * would be two users, so every id a client or a token gives goes through this.
 */
export const Id = z.guid().toLowerCase();
