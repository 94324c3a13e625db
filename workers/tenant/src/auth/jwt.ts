import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import { err, ok, type Result } from "../../../common/result";

export interface VerifiedUser {
  id: string;
  email: string | null;
}

export interface JwtConfig {
  AUTH_JWT_SECRET?: string;
  AUTH_JWKS_URL?: string;
  AUTH_ISSUER?: string;
  AUTH_AUDIENCE?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** jose caches the key set (and its cooldown) per instance: keep one per URL per isolate. */
const jwksByUrl = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
const secretKeys = new Map<string, Uint8Array>();

export type TokenError = "expired" | "invalid" | "misconfigured";

/**
 * Verifies a bearer token: HS256 with AUTH_JWT_SECRET (Supabase's default), or RS256/ES256
 * against AUTH_JWKS_URL. `alg: none` and any other algorithm are refused by the allow-lists.
 */
export async function verifyToken(
  token: string,
  config: JwtConfig,
): Promise<Result<VerifiedUser, TokenError>> {
  const options = {
    issuer: config.AUTH_ISSUER || undefined,
    audience: config.AUTH_AUDIENCE || undefined,
    clockTolerance: 5,
  };
  let payload: JWTPayload;
  try {
    if (config.AUTH_JWKS_URL) {
      let jwks = jwksByUrl.get(config.AUTH_JWKS_URL);
      if (!jwks) {
        jwks = createRemoteJWKSet(new URL(config.AUTH_JWKS_URL), { cacheMaxAge: 600_000 });
        jwksByUrl.set(config.AUTH_JWKS_URL, jwks);
      }
      ({ payload } = await jwtVerify(token, jwks, { ...options, algorithms: ["RS256", "ES256"] }));
    } else if (config.AUTH_JWT_SECRET) {
      let key = secretKeys.get(config.AUTH_JWT_SECRET);
      if (!key) {
        key = new TextEncoder().encode(config.AUTH_JWT_SECRET);
        secretKeys.set(config.AUTH_JWT_SECRET, key);
      }
      ({ payload } = await jwtVerify(token, key, { ...options, algorithms: ["HS256"] }));
    } else {
      return err("misconfigured");
    }
  } catch (e) {
    return err(e instanceof errors.JWTExpired ? "expired" : "invalid");
  }
  if (typeof payload.sub !== "string" || !UUID.test(payload.sub)) return err("invalid");
  const email = typeof payload.email === "string" ? payload.email : null;
  return ok({ id: payload.sub.toLowerCase(), email });
}
