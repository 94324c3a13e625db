import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { type RawData, WebSocket, WebSocketServer } from "ws";
import { sqlOverHttp } from "./sql-over-http";

/**
 * What Neon's proxy is to the serverless driver, for a plain local Postgres: a WebSocket-to-TCP
 * bridge (the driver's Pool/Client speak the Postgres protocol over WebSockets) and the
 * SQL-over-HTTP endpoint of its `neon()` client (./sql-over-http.ts). Both reach one configured
 * address only, so it is never an open relay.
 */
export interface DbProxy {
  port: number;
  close(): Promise<void>;
}

/**
 * Where our proxy must stand in front of a connection string's server: a Postgres on this machine,
 * which the Neon driver cannot reach by itself (it speaks only to Neon's proxy, over HTTPS and
 * WebSockets). Undefined for any other host, which the driver is taken to reach as Neon.
 */
export function proxyTarget(url: string): { host: string; port: number } | undefined {
  const u = new URL(url);
  // An IPv6 literal keeps its brackets in a URL's hostname ("[::1]").
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  if (!["127.0.0.1", "localhost", "::1"].includes(host)) return undefined;
  return { host, port: Number(u.port || 5432) };
}

/** Postgres' Terminate message: 'X' and a length of 4. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export function startDbProxy(options: {
  target: { host: string; port: number };
  port?: number;
  host?: string;
}): Promise<DbProxy> {
  const allowed = `${options.target.host}:${options.target.port}`;
  const sql = sqlOverHttp(options.target);
  const server: Server = createServer((req, res) => {
    if (req.method === "POST" && new URL(req.url ?? "/", "http://proxy").pathname === "/sql") {
      sql.handle(req, res);
      return;
    }
    res.writeHead(426, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "websocket upgrade required, or POST /sql" }));
  });
  const wss = new WebSocketServer({ noServer: true });
  const sockets = new Set<Socket>();

  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    const address = url.searchParams.get("address");
    if (url.pathname !== "/v1" || address !== allowed) {
      socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => bridge(ws));
  });

  function bridge(ws: WebSocket): void {
    const tcp = connect({ host: options.target.host, port: options.target.port });
    sockets.add(tcp);
    tcp.setNoDelay(true);
    const pending: Buffer[] = [];
    let open = false;
    tcp.on("connect", () => {
      open = true;
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    tcp.on("data", (chunk) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(chunk);
    });
    tcp.on("close", () => {
      sockets.delete(tcp);
      if (ws.readyState === WebSocket.OPEN) ws.close();
    });
    tcp.on("error", () => ws.terminate());
    ws.on("message", (data) => {
      const chunk = toBuffer(data);
      if (open) tcp.write(chunk);
      else pending.push(chunk);
      // The client is done with the session: close our side too instead of waiting for it.
      if (chunk.length >= TERMINATE.length && chunk.subarray(-TERMINATE.length).equals(TERMINATE)) {
        tcp.end();
      }
    });
    ws.on("close", () => tcp.end());
    ws.on("error", () => tcp.destroy());
  }

  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
            server.close(() => {
              sql.close().then(() => done());
            });
          }),
      });
    });
  });
}
