import { z } from "zod";
import { Id } from "../../../common/ids";
import { base64url, decodeKeyset, encodeKeyset, fromBase64url } from "../../../common/pages";
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
  return `${base64url(body)}.${base64url(sig)}`;
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
    const bytes = fromBase64url(body);
    if (!(await crypto.subtle.verify("HMAC", await key(secret), fromBase64url(sig), bytes))) return null;
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
 * A communities page's cursor: the last row's name and id, unsigned (workers/common/pages.ts):
 * the query reads the caller's own memberships whatever the cursor says.
 */
const CommunityCursor = z.tuple([z.string().max(200), Id]);

export function encodeCommunityCursor(at: CommunityPosition): string {
  return encodeKeyset([at.name, at.id]);
}

/** The position, or null when the cursor is malformed. */
export function decodeCommunityCursor(text: string): CommunityPosition | null {
  const at = decodeKeyset(text, CommunityCursor);
  return at ? { name: at[0], id: at[1] } : null;
}
