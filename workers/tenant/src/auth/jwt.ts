import {
  createLocalJWKSet,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { Id } from "../../../common/ids";
import { describeError, log } from "../../../common/log";
import { err, ok, type Result } from "../../../common/result";
import { shortSecret } from "../../../common/vars";

/**
 * Only the id: everything else about the user (email, role) comes from the database, which the
 * admin API keeps current, not from a token that may be an hour old.
 */
export interface VerifiedUser {
  id: string;
}

export interface JwtConfig {
  AUTH_JWT_SECRET?: string;
  AUTH_JWKS_URL?: string;
  AUTH_ISSUER?: string;
  AUTH_AUDIENCE?: string;
}

/**
 * Imported once per secret: jose imports a raw Uint8Array secret on every verify (~6-10 us of a
 * ~25 us verify in workerd). A CryptoKey is plain data, safe to share across requests.
 */
const secretKeys = new Map<string, CryptoKey>();

async function secretKey(secret: string): Promise<CryptoKey> {
  let key = secretKeys.get(secret);
  if (!key) {
    shortSecret("AUTH_JWT_SECRET", secret);
    key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    secretKeys.set(secret, key);
  }
  return key;
}

/**
 * Key sets change rarely. Past JWKS_REFRESH_AGE_MS one request refreshes the set in the
 * background while every request keeps verifying with the set in hand; past JWKS_MAX_AGE_MS it
 * is fetched before use (a key the provider revoked is refused from then on, in an isolate that
 * had no request to refresh it earlier). An unknown kid refetches, at most every 30 s.
 */
const JWKS_REFRESH_AGE_MS = 5 * 60_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;
const JWKS_REFETCH_COOLDOWN_MS = 30_000;
const JWKS_TIMEOUT_MS = 3_000;
/**
 * After a failed fetch, the isolate waits this long before the next: while the provider is down
 * or hanging, each request would otherwise wait out the timeout (3 s) and add to its load, even
 * with a key set in hand that is merely old.
 */
const JWKS_RETRY_AFTER_FAILURE_MS = 5_000;

type KeySet = ReturnType<typeof createLocalJWKSet>;

/**
 * The key set is cached per isolate, and each request that finds it missing fetches it itself;
 * one that finds it old refreshes it unless another request already is (jwksFetching). No
 * request ever awaits another's fetch (jose's remote key set shares one pending
 * fetch): in workerd that continuation would run in the other request's context. The local
 * key set is kept with it because it holds the imported keys: a new one per request imported
 * the public key every time (~30 us of a ~70 us RS256 verify in workerd). Importing is
 * synchronous in workerd, so no request is left awaiting another's import either.
 */
const jwksByUrl = new Map<string, { keySet: KeySet; fetchedAt: number }>();
const jwksFailedAt = new Map<string, number>();
/**
 * Key sets being fetched for their age. A request with a set in hand does not start another
 * fetch while one runs: each used to fetch, so when a set aged out every request in the fetch's
 * window waited on the provider, up to its 3 s timeout while it hung, every time a retry was due.
 */
const jwksFetching = new Set<string>();

/** Fetches the key set; null when the provider did not answer with one (logged). */
async function fetchKeySet(url: string, now: () => number, inHand: boolean): Promise<KeySet | null> {
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(JWKS_TIMEOUT_MS),
      headers: { accept: "application/json" },
    });
    const body = (await res.json()) as JSONWebKeySet;
    if (!res.ok || !Array.isArray(body?.keys)) throw new Error(`JWKS answered ${res.status}`);
    const fetched = { keySet: createLocalJWKSet(body), fetchedAt: now() };
    jwksByUrl.set(url, fetched);
    jwksFailedAt.delete(url);
    return fetched.keySet;
  } catch (e) {
    jwksFailedAt.set(url, now());
    log("warn", "identity provider key set fetch failed", {
      url,
      ...describeError(e),
      serving: inHand ? "the key set in hand" : "503 until it can be fetched",
    });
    return null;
  }
}

/** As fetchKeySet, marked as the one fetch of the set for its age. */
async function refreshKeySet(url: string, now: () => number): Promise<KeySet | null> {
  jwksFetching.add(url);
  try {
    return await fetchKeySet(url, now, true);
  } finally {
    jwksFetching.delete(url);
  }
}

async function keySet(
  url: string,
  refetch: boolean,
  now: () => number,
  waitUntil: ((p: Promise<unknown>) => void) | undefined,
): Promise<KeySet | null> {
  const cached = jwksByUrl.get(url);
  const failedRecently =
    now() - (jwksFailedAt.get(url) ?? Number.NEGATIVE_INFINITY) < JWKS_RETRY_AFTER_FAILURE_MS;
  // With none in hand, every request fetches: none may await another's fetch (see above).
  if (!cached) return failedRecently ? null : fetchKeySet(url, now, false);
  if (failedRecently) return cached.keySet;
  const age = now() - cached.fetchedAt;
  if (refetch && age > JWKS_REFETCH_COOLDOWN_MS) return (await fetchKeySet(url, now, true)) ?? cached.keySet;
  if (age <= JWKS_REFRESH_AGE_MS || jwksFetching.has(url)) return cached.keySet;
  if (age <= JWKS_MAX_AGE_MS) {
    waitUntil?.(refreshKeySet(url, now));
    return cached.keySet;
  }
  return (await refreshKeySet(url, now)) ?? cached.keySet;
}

/**
 * "not_a_user": a Supabase project key for servers (a secret key, the legacy service-role key),
 * which names no user; said apart from "invalid" so a developer who sent one is told what to send.
 */
export type TokenError = "expired" | "invalid" | "not_a_user" | "misconfigured" | "unavailable";

/**
 * Supabase's publishable key, which replaces the anon key (Supabase retires its legacy JWT keys at
 * the end of 2026): no JWT, and no user. supabase-js sends it as the bearer token when nobody is
 * signed in (`session?.access_token ?? supabaseKey`), as it sent the anon key, so it is anonymous
 * too. Nothing here can verify it (it is public by design, and only Supabase knows its project's
 * keys); a made-up one gets what no header gets.
 */
const PUBLISHABLE_KEY = /^sb_publishable_[A-Za-z0-9_-]+$/;
/** Its server-side counterpart, which bypasses row-level security in Supabase: never a user. */
const SECRET_KEY_PREFIX = "sb_secret_";

/**
 * Verifies a bearer token, giving its user, or null for a token that stands for nobody
 * (Supabase's anon key, verified; its publishable key). Verification: HS256 with
 * AUTH_JWT_SECRET (Supabase's legacy secret), RS256/ES256 against AUTH_JWKS_URL. With both
 * configured, as while a Supabase project moves to signing keys (tokens signed with the legacy
 * secret stay valid until it is revoked), the token's `alg` picks the one to use: an HS256 token
 * is checked against the secret only and an RS256/ES256 token against the key set only, so no
 * key is ever used with another algorithm. `alg: none` and any other algorithm are refused by
 * the allow-lists.
 */
export async function verifyToken(
  token: string,
  config: JwtConfig,
  cacheOptions: {
    /** The key set cache's clock (its age, its refetch cooldown); jose reads exp and nbf against its own. */
    now?: () => number;
    /** For refreshing the key set in the background; without it, it is refreshed only when it must be. */
    waitUntil?: (p: Promise<unknown>) => void;
  } = {},
): Promise<Result<VerifiedUser | null, TokenError>> {
  if (PUBLISHABLE_KEY.test(token)) return ok(null);
  if (token.startsWith(SECRET_KEY_PREFIX)) return err("not_a_user");
  const now = cacheOptions.now ?? Date.now;
  const options = {
    issuer: config.AUTH_ISSUER || undefined,
    audience: config.AUTH_AUDIENCE || undefined,
    clockTolerance: 5,
    // jose checks exp only when a token has one; a token without it would never expire.
    requiredClaims: ["exp"],
  };
  const secret = config.AUTH_JWT_SECRET || undefined;
  const jwksUrl = config.AUTH_JWKS_URL || undefined;
  if (secret === undefined && jwksUrl === undefined) return err("misconfigured");
  let payload: JWTPayload;
  try {
    if (secret !== undefined && (jwksUrl === undefined || decodeProtectedHeader(token).alg === "HS256")) {
      ({ payload } = await jwtVerify(token, await secretKey(secret), { ...options, algorithms: ["HS256"] }));
    } else {
      const verifyWith = async (refetch: boolean) => {
        const jwks = await keySet(jwksUrl ?? "", refetch, now, cacheOptions.waitUntil);
        if (!jwks) return null;
        return (await jwtVerify(token, jwks, { ...options, algorithms: ["RS256", "ES256"] })).payload;
      };
      let verified: JWTPayload | null;
      try {
        verified = await verifyWith(false);
      } catch (e) {
        // A key we have not seen: the provider may have rotated its keys.
        if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
        verified = await verifyWith(true);
      }
      if (!verified) return err("unavailable");
      payload = verified;
    }
  } catch (e) {
    return err(e instanceof errors.JWTExpired ? "expired" : "invalid");
  }
  // Supabase's anon key: a signed token with no user, which its clients send when nobody is
  // signed in (the original design answered it as anonymous). Verified like any other token.
  if (payload.sub === undefined && payload.role === "anon") return ok(null);
  if (payload.sub === undefined && payload.role === "service_role") return err("not_a_user");
  const sub = Id.safeParse(payload.sub);
  if (!sub.success) return err("invalid");
  return ok({ id: sub.data });
}
