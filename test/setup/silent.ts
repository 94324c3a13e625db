import { createServer, type Server } from "node:http";

/**
 * A database endpoint that takes every connection and request and never answers: a hung Postgres
 * or proxy, which a refused connection (UNREACHABLE_PROXY) does not stand in for. Workers pointed
 * at it (LOCAL_DB_PROXY) must give up on their own timeouts.
 */
export async function startSilentServer(): Promise<{ address: string; close(): Promise<void> }> {
  const server: Server = createServer(() => {
    // Never answered.
  });
  server.on("upgrade", () => {
    // Never upgraded.
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
