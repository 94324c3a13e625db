import { describe, expect, it, vi } from "vitest";
import { ok } from "../../common/result";
import { brokenKv } from "../../test-support/kv";
import { loggedLines } from "../../test-support/logs";
import { getMembership, type Membership, membershipKey } from "../src/auth/membership";

const TENANT = "a7000000-0000-4000-8000-000000000001";
const USER = "b7000000-0000-4000-8000-000000000001";
const MEMBER: Membership = { role: "member", is_admin: false, email: "member@example.com" };

describe("the membership cache when Workers KV fails", () => {
  it("answers from the database, and says it could neither read nor keep the entry", async () => {
    const broken = brokenKv();
    const pending: Promise<unknown>[] = [];
    let loads = 0;
    const warn = vi.spyOn(console, "warn");
    try {
      const found = await getMembership(TENANT, USER, {
        kv: broken,
        load: async () => {
          loads++;
          return ok(MEMBER);
        },
        waitUntil: (p) => pending.push(p),
      });
      await Promise.all(pending);
      expect(found).toEqual(ok(MEMBER));
      expect(loads).toBe(1);
      expect(loggedLines(warn).map((l) => [l.msg, l.key, l.error_message])).toEqual([
        ["membership cache read failed", membershipKey(TENANT, USER), "KV down"],
        ["membership cache write failed", membershipKey(TENANT, USER), "KV down"],
      ]);
    } finally {
      warn.mockRestore();
    }
  });
});
