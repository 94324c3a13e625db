import { describe, expect, it } from "vitest";
import {
  authorizeContentDeletion,
  authorizeContentUpdate,
  authorizeNotification,
} from "../../workers/common/authz";

/**
 * Who administers a community. The consumer's SQL takes the same role list from authz.ts
 * (workers/batch/test/authz-agreement.test.ts holds the two to one verdict), so the list itself
 * is pinned here.
 */
describe("community admins", () => {
  const SENDER = "d0000000-0000-4000-8000-000000000001";
  const OTHER = "d0000000-0000-4000-8000-000000000002";
  const notifyOther = (role: string, is_admin: boolean) =>
    authorizeNotification(SENDER, { role, is_admin }, [OTHER], () => true);
  const editOthers = (role: string, is_admin: boolean) =>
    authorizeContentUpdate(SENDER, { role, is_admin }, { tenant_id: "t", author: OTHER }, "t");

  it("are owners and admins by role, and anyone with the is_admin flag", () => {
    for (const [role, is_admin] of [
      ["owner", false],
      ["admin", false],
      ["member", true],
      ["moderator", true],
    ] as const) {
      expect([role, is_admin, notifyOther(role, is_admin), editOthers(role, is_admin)]).toEqual([
        role,
        is_admin,
        null,
        null,
      ]);
    }
  });

  it("are not moderators or members without the flag", () => {
    for (const role of ["moderator", "member"]) {
      expect([role, notifyOther(role, false), editOthers(role, false)]).toEqual([
        role,
        "not_admin",
        "not_author",
      ]);
    }
  });
});

describe("taking content down", () => {
  const ACTOR = "d0000000-0000-4000-8000-000000000001";
  const AUTHOR = "d0000000-0000-4000-8000-000000000002";
  const deleteOthers = (role: string, is_admin = false) =>
    authorizeContentDeletion(ACTOR, { role, is_admin }, { tenant_id: "t", author: AUTHOR }, "t");

  it("is for moderators too, besides the author and admins", () => {
    expect(["owner", "admin", "moderator"].map((role) => deleteOthers(role))).toEqual([null, null, null]);
    expect(deleteOthers("member", true)).toBeNull();
    expect(
      authorizeContentDeletion(
        ACTOR,
        { role: "member", is_admin: false },
        { tenant_id: "t", author: ACTOR },
        "t",
      ),
    ).toBeNull();
  });

  it("is refused to other members, strangers, and for another community's content", () => {
    expect(deleteOthers("member")).toBe("not_moderator");
    expect(authorizeContentDeletion(ACTOR, null, { tenant_id: "t", author: AUTHOR }, "t")).toBe("not_member");
    expect(
      authorizeContentDeletion(
        ACTOR,
        { role: "moderator", is_admin: false },
        { tenant_id: "u", author: AUTHOR },
        "t",
      ),
    ).toBe("no_such_content");
  });
});
