import { describe, expect, it } from "vitest";
import { describeError, redactCredentials } from "../../workers/common/log";

describe("redactCredentials", () => {
  it("takes passwords out of the messages drivers write", () => {
    expect(
      redactCredentials(
        "Database connection string provided to neon() is not a valid URL (connection string: postgres://u:s3cret@db host/x)",
      ),
    ).toBe(
      "Database connection string provided to neon() is not a valid URL (connection string: [redacted])",
    );
    expect(redactCredentials("connect to postgresql://app:s3cret@ep-1.neon.tech/db failed")).toBe(
      "connect to postgresql://[redacted]@ep-1.neon.tech/db failed",
    );
    expect(redactCredentials("host=db user=app password=s3cret sslmode=require")).toBe(
      "host=db user=app password=[redacted] sslmode=require",
    );
  });

  it("leaves messages without credentials as they are", () => {
    const message = 'relation "tenants" does not exist';
    expect(redactCredentials(message)).toBe(message);
    expect(redactCredentials("fetch failed: connect ECONNREFUSED 127.0.0.1:5432")).toBe(
      "fetch failed: connect ECONNREFUSED 127.0.0.1:5432",
    );
  });
});

describe("describeError", () => {
  it("takes credentials out of an error's message too", () => {
    expect(describeError(new Error("bad postgres://app:s3cret@db/x"))).toEqual({
      error_name: "Error",
      error_message: "bad postgres://[redacted]@db/x",
    });
  });
});
