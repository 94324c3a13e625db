import { z } from "zod";
import { TENANT_NAME_MAX_LENGTH } from "../../../../db/schema/tenants";
import { Id } from "../../../common/ids";
import { base64url, decodeKeyset, encodeKeyset, fromBase64url } from "../../../common/pages";
import type { CommunityPosition } from "./queries";
import type { FeedType, Position } from "./sql";

/**
 * Opaque page cursors: the position, signed with HMAC-SHA256 together with what it belongs to
 * (feed type, user, tenant filter), so a tampered cursor, or one from another user, feed or
 * filter, is refused rather than trusted. The scope is signed, not carried: the request names it
 * again, and a filter of 100 ids is 3.7 KB, past what a cursor may be (v1 carried it, so past
 * about 15 ids its second page was a 400; v1 cursors are refused now, and a client starts over).
 */
const Payload = z.object({ v: z.literal(2), a: z.string().max(64), i: z.guid() });

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

/** What is signed: the scope (its fields never hold a newline) and then the cursor's body. */
function signed(scope: CursorScope, body: string): Uint8Array {
  return encoder.encode(`${scope.type}\n${scope.userId}\n${scope.filter}\n${body}`);
}

export async function encodeCursor(secret: string, scope: CursorScope, at: Position): Promise<string> {
  const body = base64url(encoder.encode(JSON.stringify({ v: 2, a: at.at, i: at.id })));
  const sig = new Uint8Array(await crypto.subtle.sign("HMAC", await key(secret), signed(scope, body)));
  return `${body}.${base64url(sig)}`;
}

/**
 * The position, or null when the cursor is malformed, forged, or not for this scope. Signed with
 * any of `secrets`: the current one first, then one a rotation is retiring.
 */
export async function decodeCursor(
  secrets: readonly string[],
  scope: CursorScope,
  cursor: string,
): Promise<Position | null> {
  const [body, sig, extra] = cursor.split(".");
  if (!body || !sig || extra !== undefined || cursor.length > 1024) return null;
  try {
    const mac = fromBase64url(sig);
    const data = signed(scope, body);
    let verified = false;
    for (const secret of secrets) {
      if (await crypto.subtle.verify("HMAC", await key(secret), mac, data)) {
        verified = true;
        break;
      }
    }
    if (!verified) return null;
    // A signed position is one the feed wrote, a time as Postgres writes it, which Postgres reads
    // back; Date.parse cannot read all of them ("10000-01-01T…").
    const parsed = Payload.safeParse(JSON.parse(new TextDecoder().decode(fromBase64url(body))));
    return parsed.success ? { at: parsed.data.a, id: parsed.data.i } : null;
  } catch {
    return null;
  }
}

/**
 * A communities page's cursor: the last row's name and id, unsigned (workers/common/pages.ts):
 * the query reads the caller's own memberships whatever the cursor says.
 */
const CommunityCursor = z.tuple([z.string().max(TENANT_NAME_MAX_LENGTH), Id]);

/**
 * The longest communities cursor, as base64url: a name of control characters, six bytes of JSON
 * each (\u0001), then the id and the brackets and quotes around both (43 bytes).
 */
export const COMMUNITY_CURSOR_MAX_LENGTH = Math.ceil(((TENANT_NAME_MAX_LENGTH * 6 + 43) * 4) / 3);

export function encodeCommunityCursor(at: CommunityPosition): string {
  return encodeKeyset([at.name, at.id]);
}

/** The position, or null when the cursor is malformed. */
export function decodeCommunityCursor(text: string): CommunityPosition | null {
  const at = decodeKeyset(text, CommunityCursor);
  return at ? { name: at[0], id: at[1] } : null;
}
