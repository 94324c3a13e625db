import { describe, expect, it } from "vitest";
import { proxyTarget } from "../../db/local/proxy";

describe("which databases the local proxy stands in front of", () => {
  it("takes a Postgres on this machine, however its host is written", () => {
    expect(proxyTarget("postgres://u:p@127.0.0.1:5433/db")).toEqual({ host: "127.0.0.1", port: 5433 });
    expect(proxyTarget("postgres://u@localhost/db")).toEqual({ host: "localhost", port: 5432 });
    expect(proxyTarget("postgres://u@[::1]:6543/db")).toEqual({ host: "::1", port: 6543 });
  });

  it("leaves Neon to the driver, which reaches it itself", () => {
    expect(
      proxyTarget("postgres://u:p@ep-cool-1234.us-east-2.aws.neon.tech/db?sslmode=require"),
    ).toBeUndefined();
  });
});
