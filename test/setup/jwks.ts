import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, type JWK } from "jose";

export interface TestJwks {
  url: string;
  /** Private keys, by algorithm, with their `kid`: the tests sign with them. */
  privateKeys: Record<"RS256" | "ES256", JWK>;
}

/**
 * A real identity-provider stand-in: RS256 and ES256 key pairs, their public halves served as a
 * JWKS over HTTP on loopback, so the workers fetch and cache it as they would in production.
 */
export async function startJwksServer(): Promise<{ jwks: TestJwks; close(): Promise<void> }> {
  const privateKeys = {} as Record<"RS256" | "ES256", JWK>;
  const publicKeys: JWK[] = [];
  for (const alg of ["RS256", "ES256"] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `test-${alg.toLowerCase()}`;
    publicKeys.push({ ...(await exportJWK(publicKey)), kid, alg, use: "sig" });
    privateKeys[alg] = { ...(await exportJWK(privateKey)), kid, alg };
  }
  const answered = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    // A provider that hangs: it never answers (its connection is closed with the server).
    if (req.url === "/hanging/.well-known/jwks.json") return;
    // Providers with a history, one per test's <id>: "rotating" adds its ES256 key from its second
    // answer on (a key rotation); "revoking" drops its ES256 key from its second answer on (a key
    // revoked); "failing" answers once, then 503 (an outage); "stalling" answers once, then never
    // (a provider that hangs); "erroring" answers 500 with a body shaped like an empty key set (an
    // error page of a provider's framework).
    const scripted =
      /^\/(rotating|revoking|failing|stalling|erroring)\/([\w-]+)\/\.well-known\/jwks\.json$/.exec(
        req.url ?? "",
      );
    if (scripted) {
      const [, kind, id = ""] = scripted;
      const served = (answered.get(id) ?? 0) + 1;
      answered.set(id, served);
      if (kind === "stalling" && served > 1) return;
      if (kind === "failing" && served > 1) {
        res.writeHead(503).end();
        return;
      }
      if (kind === "erroring") {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ keys: [] }));
        return;
      }
      const keys =
        (kind === "rotating" && served === 1) || (kind === "revoking" && served > 1)
          ? publicKeys.filter((k) => k.alg === "RS256")
          : publicKeys;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys }));
      return;
    }
    if (req.url !== "/.well-known/jwks.json") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: publicKeys }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    jwks: { url: `http://127.0.0.1:${port}/.well-known/jwks.json`, privateKeys },
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
