import { z } from "zod";
import type { CommunityPosition } from "./queries";
import type { FeedType, Position } from "./sql";

/**
 * Opaque page cursors: the position plus what it belongs to (feed type, user, tenant filter),
 * signed with HMAC-SHA256, so a tampered cursor, or one from another user or feed, is refused
 * rather than trusted.
 */
const Payload = z.object({
  v: z.literal(1),
  t: z.enum(["posts", "events"]),
  u: z.string(),
  f: z.string(),
  a: z.string().max(64),
  i: z.guid(),
});

const encoder = new TextEncoder();
const keys = new Map<string, Promise<CryptoKey>>();

function key(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    // A key of its own, derived from the worker's secret: cursors never share a key with tokens.
    k = crypto.subtle
      .digest("SHA-256", encoder.encode(`feed-cursor\n${secret}`))
      .then((raw) =>
        crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]),
      );
    keys.set(secret, k);
  }
  return k;
}

const b64 = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
const unb64 = (text: string) =>
  Uint8Array.from(atob(text.replaceAll("-", "+").replaceAll("_", "/")), (c) => c.charCodeAt(0));

export interface CursorScope {
  type: FeedType;
  userId: string;
  /** The request's tenant filter, normalised (sorted ids, or "" for the default). */
  filter: string;
}

export async function encodeCursor(secret: string, scope: CursorScope, at: Position): Promise<string> {
  const body = encoder.encode(
    JSON.stringify({ v: 1, t: scope.type, u: scope.userId, f: scope.filter, a: at.at, i: at.id }),
  );
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await key(secret), body));
  return `${b64(body)}.${b64(sig)}`;
}

/** The position, or null when the cursor is malformed, forged, or not for this scope. */
export async function decodeCursor(
  secret: string,
  scope: CursorScope,
  cursor: string,
): Promise<Position | null> {
  const [body, sig, extra] = cursor.split(".");
  if (!body || !sig || extra !== undefined || cursor.length > 1024) return null;
  try {
    const bytes = unb64(body);
    if (!(await crypto.subtle.verify("HMAC", await key(secret), unb64(sig), bytes))) return null;
    const parsed = Payload.safeParse(JSON.parse(new TextDecoder().decode(bytes)));
    if (!parsed.success) return null;
    const p = parsed.data;
    if (p.t !== scope.type || p.u !== scope.userId || p.f !== scope.filter || Number.isNaN(Date.parse(p.a)))
      return null;
    return { at: p.a, id: p.i };
  } catch {
    return null;
  }
}

/**
 * A communities page's cursor: the last row's order keys, unsigned. The query reads the caller's
 * own memberships whatever the cursor says, so a forged one can only move within them.
 */
const CommunityCursor = z.tuple([z.string().max(200), z.guid()]);

export function encodeCommunityCursor(at: CommunityPosition): string {
  return b64(encoder.encode(JSON.stringify([at.name, at.id])));
}

/** The position, or null when the cursor is malformed. */
export function decodeCommunityCursor(text: string): CommunityPosition | null {
  try {
    const at = CommunityCursor.safeParse(JSON.parse(new TextDecoder().decode(unb64(text))));
    return at.success ? { name: at.data[0], id: at.data[1].toLowerCase() } : null;
  } catch {
    return null;
  }
}
