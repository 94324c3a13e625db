import { env } from "cloudflare:test";
import { importJWK, type JWK, SignJWT } from "jose";

export { signProjectKey, signToken } from "./supabase-tokens";

/** An unsigned token (`alg: none`), which must always be refused. */
export function unsignedToken(sub: string): string {
  const b64 = (o: object) =>
    btoa(JSON.stringify(o)).replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}

/** A token signed by the test identity provider's RS256 or ES256 key (served as a JWKS). */
export async function signWithJwks(
  alg: "RS256" | "ES256",
  claims: { sub: string; iss?: string; aud?: string },
): Promise<string> {
  const jwk = (JSON.parse(env.TEST_JWKS_PRIVATE_KEYS) as Record<string, JWK>)[alg];
  if (!jwk) throw new Error(`no test key for ${alg}`);
  const jwt = new SignJWT({ role: "authenticated" })
    .setProtectedHeader({ alg, kid: jwk.kid, typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime("1h");
  if (claims.iss) jwt.setIssuer(claims.iss);
  if (claims.aud) jwt.setAudience(claims.aud);
  return jwt.sign(await importJWK(jwk, alg));
}
