import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type DbProxy, startDbProxy } from "../../db/local/proxy";

/** A TCP echo server standing in for Postgres, counting the connections it gets. */
let target: Server;
let targetPort: number;
let connections = 0;
let closedByProxy = 0;
let proxy: DbProxy;

beforeAll(async () => {
  target = createServer((socket) => {
    connections++;
    socket.on("data", (d) => socket.write(d));
    socket.on("end", () => {
      closedByProxy++;
      socket.end();
    });
  });
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  const addr = target.address();
  targetPort = typeof addr === "object" && addr ? addr.port : 0;
  proxy = await startDbProxy({ target: { host: "127.0.0.1", port: targetPort } });
});

afterAll(async () => {
  await proxy.close();
  await new Promise((r) => target.close(r));
});

function open(address: string, path = "/v1"): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}?address=${address}`);
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

describe("local WebSocket-to-TCP proxy", () => {
  it("forwards bytes both ways to the configured Postgres address", async () => {
    const ws = await open(`127.0.0.1:${targetPort}`);
    const echoed = new Promise<Buffer>((r) => ws.once("message", (d) => r(d as Buffer)));
    ws.send(Buffer.from("hello"));
    expect((await echoed).toString()).toBe("hello");
    ws.close();
  });

  it("refuses any other address: it is not an open relay", async () => {
    const before = connections;
    await expect(open("127.0.0.1:22")).rejects.toThrow("status 403");
    await expect(open("example.com:5432")).rejects.toThrow("status 403");
    await expect(open("")).rejects.toThrow("status 403");
    // The driver's path only: what else a client asks for is not Neon's protocol.
    await expect(open(`127.0.0.1:${targetPort}`, "/v2")).rejects.toThrow("status 403");
    expect(connections).toBe(before);
  });

  it("closes the TCP side when the client closes the WebSocket without a Terminate, so no Postgres session is left behind", async () => {
    const before = closedByProxy;
    const ws = await open(`127.0.0.1:${targetPort}`);
    const echoed = new Promise((r) => ws.once("message", r));
    ws.send(Buffer.from("connected"));
    await echoed;
    ws.close();
    await expect.poll(() => closedByProxy, { timeout: 2_000 }).toBe(before + 1);
  });

  it("closes the TCP side when the client sends Terminate", async () => {
    const before = closedByProxy;
    const ws = await open(`127.0.0.1:${targetPort}`);
    ws.send(Buffer.from([0x58, 0, 0, 0, 4]));
    await expect.poll(() => closedByProxy, { timeout: 2_000 }).toBe(before + 1);
    ws.terminate();
  });
});
