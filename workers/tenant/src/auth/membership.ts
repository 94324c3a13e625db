import {
  and,
  arrayContains,
  asc,
  eq,
  gt,
  inArray,
  isNotNull,
  notInArray,
  or,
  type SQL,
  sql,
} from "drizzle-orm";
import { providerUsers, tenants, tenantUsers, users } from "../../../../db/schema";
import { ADMIN_MEMBER_ROLES } from "../../../../db/schema/tenant-users";
import { ADMIN_ROLES } from "../../../common/authz";
import { attempt, type Db, type DbError, mayHaveCommitted, type Queryable } from "../../../common/db";
import { describeError, log } from "../../../common/log";
import { pageOf } from "../../../common/pages";
import { err, ok, type Result } from "../../../common/result";
import { positiveNumber } from "../../../common/vars";
import { Lru } from "../tenancy/lru";

export interface Membership {
  role: string;
  is_admin: boolean;
  email: string;
}

/** KV holds memberships for 300 s; an isolate keeps them for 30 s on top. */
const KV_TTL_SECONDS = 300;
const L1_TTL_MS = 30_000;
/** The longest a membership lookup runs; see forgetMembership. */
const LOAD_TIMEOUT_MS = 2_000;
/**
 * When a membership change deletes its KV entry a second time (MEMBERSHIP_REDELETE_SECONDS): past
 * LOAD_TIMEOUT_MS with room for the lookup's KV write.
 */
const DEFAULT_REDELETE_SECONDS = 5;

type Entry = { member: Membership | null };
const l1 = new Lru<Entry>(10_000);

/**
 * Keyed by tenant id and the verified `sub`, never by anything taken from the raw token, so two
 * tokens can only share an entry when they belong to the same user. Ids arrive lower-cased (the
 * shared `Id` schema, the token's `sub` through it too), so an admin's change drops the very key
 * lookups use.
 */
export function membershipKey(tenantId: string, userId: string): string {
  return `member:v1:${tenantId}:${userId}`;
}

export interface MembershipDeps {
  kv: KVNamespace;
  /** The database lookup (findMembership), wrapped by the caller for timing. */
  load: () => Promise<Result<Membership | null, DbError>>;
  waitUntil: (p: Promise<unknown>) => void;
}

/** The one indexed lookup behind the cache: the primary key of tenant_users, joined to users. */
export function findMembership(
  db: Db,
  tenantId: string,
  userId: string,
): Promise<Result<Membership | null, DbError>> {
  return attempt(async () => {
    const [row] = await db
      .select({ role: tenantUsers.role, is_admin: tenantUsers.isAdmin, email: users.email })
      .from(tenantUsers)
      .innerJoin(users, eq(users.id, tenantUsers.userId))
      .where(and(eq(tenantUsers.tenantId, tenantId), eq(tenantUsers.userId, userId)))
      .limit(1);
    return row ?? null;
  }, LOAD_TIMEOUT_MS);
}

export async function getMembership(
  tenantId: string,
  userId: string,
  deps: MembershipDeps,
): Promise<Result<Membership | null, DbError>> {
  const key = membershipKey(tenantId, userId);
  const hit = l1.peek(key);
  if (hit?.fresh) return ok(hit.value.member);
  try {
    const cached = await deps.kv.get<Entry>(key, "json");
    if (cached && "member" in cached) {
      l1.set(key, cached, L1_TTL_MS);
      return ok(cached.member);
    }
  } catch (e) {
    // KV trouble is not an outage: the database answers. Said, as the tenant cache says it: every
    // lookup then costs a query, and the database's load alone would not tell why.
    log("warn", "membership cache read failed", { key, ...describeError(e) });
  }
  const loaded = await deps.load();
  if (!loaded.ok) return loaded;
  const entry: Entry = { member: loaded.value };
  l1.set(key, entry, L1_TTL_MS);
  deps.waitUntil(
    deps.kv
      .put(key, JSON.stringify(entry), { expirationTtl: KV_TTL_SECONDS })
      .catch((e: unknown) => log("warn", "membership cache write failed", { key, ...describeError(e) })),
  );
  return ok(entry.member);
}

async function deleteFromKv(kv: KVNamespace, key: string): Promise<void> {
  try {
    await kv.delete(key);
  } catch (e) {
    log("warn", "membership cache delete failed; entry lapses with its TTL", {
      key,
      ...describeError(e),
    });
  }
}

/** Where a membership change drops its cached entry, and when it drops it again. */
export interface ForgetDeps {
  kv: KVNamespace;
  waitUntil: (p: Promise<unknown>) => void;
  redeleteAfterMs: number;
}

/**
 * After a membership change: drop the entry here and in KV. The write has committed by then, so a
 * KV failure is logged, not returned: the entry then lapses within its 300 s TTL.
 *
 * A lookup in any isolate that read the row before the change can still put the old answer in
 * KV after this delete (its query runs up to LOAD_TIMEOUT_MS), and a removed member would then
 * keep access for KV's 300 s. KV keeps the latest write, so a second delete once such lookups
 * are over removes it: access then lapses within L1's 30 s and KV's propagation.
 */
async function forgetMembership(deps: ForgetDeps, tenantId: string, userId: string): Promise<void> {
  const key = membershipKey(tenantId, userId);
  l1.delete(key);
  await deleteFromKv(deps.kv, key);
  deps.waitUntil(
    new Promise((r) => setTimeout(r, deps.redeleteAfterMs)).then(() => deleteFromKv(deps.kv, key)),
  );
}

/** MEMBERSHIP_REDELETE_SECONDS, or the default for a missing or bad value. */
export function redeleteAfterMs(value: string | undefined): number {
  return positiveNumber(value, DEFAULT_REDELETE_SECONDS, "MEMBERSHIP_REDELETE_SECONDS") * 1000;
}

export interface MemberRow {
  user_id: string;
  email: string;
  display_name: string | null;
  role: string;
  is_admin: boolean;
  /** What the member says of themselves in this community (PATCH /v1/me/communities/{id}). */
  expertise_level: string | null;
  interests: string[];
}

/**
 * Memberships that are (true) or are not (false) an admin's, as authz.ts isTenantAdmin counts
 * one (who may notify other members and edit anyone's content); undefined: no condition.
 */
function adminIs(admin: boolean | undefined): SQL | undefined {
  if (admin === undefined) return undefined;
  return admin
    ? or(eq(tenantUsers.isAdmin, true), inArray(tenantUsers.role, [...ADMIN_MEMBER_ROLES]))
    : and(eq(tenantUsers.isAdmin, false), notInArray(tenantUsers.role, [...ADMIN_MEMBER_ROLES]));
}

/**
 * Whether $2 is a member of the active community $1, for statements written as text (content,
 * journeys): each checks it itself, not the membership cache, so a member removed a moment ago
 * is refused at once. isMemberOfActive is the same rule for drizzle's.
 */
export const IS_MEMBER = `EXISTS (
    SELECT 1 FROM public.tenant_users tu JOIN public.tenants t ON t.id = tu.tenant_id AND t.is_active
     WHERE tu.tenant_id = $1::uuid AND tu.user_id = $2::uuid)`;

/** Whether `viewer` is a member of the active community `tenantId` (IS_MEMBER, for drizzle). */
function isMemberOfActive(tenantId: string, viewer: string): SQL {
  return sql`EXISTS (
    SELECT 1 FROM ${tenantUsers} v JOIN ${tenants} t ON t.id = v.tenant_id AND t.is_active
     WHERE v.tenant_id = ${tenantId} AND v.user_id = ${viewer})`;
}

type MembersPage = { after?: string; limit: number; admin?: boolean; interest?: string; viewer?: string };

/** listMembers' statement, a row more than the page (whether there is more). */
export function membersQuery(db: Db, tenantId: string, page: MembersPage) {
  const { after, limit, admin, interest, viewer } = page;
  return db
    .select({
      user_id: tenantUsers.userId,
      email: users.email,
      display_name: users.displayName,
      role: tenantUsers.role,
      is_admin: tenantUsers.isAdmin,
      expertise_level: tenantUsers.expertiseLevel,
      interests: tenantUsers.interests,
    })
    .from(tenantUsers)
    .innerJoin(users, eq(users.id, tenantUsers.userId))
    .where(
      and(
        eq(tenantUsers.tenantId, tenantId),
        after === undefined ? undefined : gt(tenantUsers.userId, after),
        adminIs(admin),
        interest === undefined ? undefined : arrayContains(tenantUsers.interests, [interest]),
        viewer === undefined ? undefined : isMemberOfActive(tenantId, viewer),
      ),
    )
    .orderBy(asc(tenantUsers.userId))
    .limit(limit + 1);
}

/**
 * One page of a tenant's members in user-id order, after `after` (keyset on the primary key's
 * second column, so every page is one index range; the admins alone, on idx_tenant_users_admins).
 * With a `viewer`, only a member of the active community gets one, checked in the statement (not
 * the membership cache), as content reads are. An empty page asks once more whether the tenant
 * exists at all (or the viewer is one of its members), so a tenant without members is told from
 * no tenant (or a stranger). With an `interest` (lower case, as interests are kept), only the
 * members who named it.
 */
export async function listMembers(
  db: Db,
  tenantId: string,
  page: MembersPage,
): Promise<Result<{ members: MemberRow[]; more: boolean } | null, DbError>> {
  const { limit, viewer } = page;
  return attempt(async () => {
    const rows = await membersQuery(db, tenantId, page);
    if (rows.length === 0) {
      const [there] = await db
        .select({ yes: sql<boolean>`true` })
        .from(tenants)
        .where(
          and(
            eq(tenants.id, tenantId),
            viewer === undefined ? undefined : isMemberOfActive(tenantId, viewer),
          ),
        );
      if (!there) return null;
    }
    const { rows: members, more } = pageOf(rows, limit);
    return { members, more };
  });
}

export interface UserMembershipRow {
  tenant_id: string;
  slug: string;
  name: string;
  is_active: boolean;
  role: string;
  is_admin: boolean;
}

/**
 * One page of a user's memberships in tenant-id order, inactive communities too (keyset on
 * idx_tenant_users_by_user, (user_id, tenant_id): a seek a page). An empty page asks once more
 * whether the user exists, as listMembers does.
 */
export async function listUserMemberships(
  db: Db,
  userId: string,
  page: { after?: string; limit: number; admin?: boolean },
): Promise<Result<{ memberships: UserMembershipRow[]; more: boolean } | null, DbError>> {
  const { after, limit, admin } = page;
  return attempt(async () => {
    const rows = await db
      .select({
        tenant_id: tenantUsers.tenantId,
        slug: tenants.slug,
        name: tenants.name,
        is_active: tenants.isActive,
        role: tenantUsers.role,
        is_admin: tenantUsers.isAdmin,
      })
      .from(tenantUsers)
      .innerJoin(tenants, eq(tenants.id, tenantUsers.tenantId))
      .where(
        and(
          eq(tenantUsers.userId, userId),
          after === undefined ? undefined : gt(tenantUsers.tenantId, after),
          adminIs(admin),
        ),
      )
      .orderBy(asc(tenantUsers.tenantId))
      .limit(limit + 1);
    if (rows.length === 0) {
      const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId));
      if (!user) return null;
    }
    const { rows: memberships, more } = pageOf(rows, limit);
    return { memberships, more };
  });
}

export interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
}

/** An erased user's id is not saved again: its sign-up or a change came after the erasure. */
export type UserWriteError = DbError | { kind: "conflict"; field: "email" } | { kind: "erased" };

/** What a save did: applied it, or kept the stored user, which a newer change left (stale). */
export interface SavedUser {
  user: UserRow;
  applied: boolean;
}

/** When the user with this id was erased here, if they were (db/migrations/0026). */
export async function erasedAt(db: Db, id: string): Promise<Result<string | undefined, DbError>> {
  return attempt(async () => {
    const [row] = await db
      .select({ at: sql<string>`to_json(${providerUsers.erasedAt}) #>> '{}'` })
      .from(providerUsers)
      .where(and(eq(providerUsers.id, id), isNotNull(providerUsers.erasedAt)));
    return row?.at;
  });
}

/** A user by id, or by email (lower-cased, as stored: UserEmail gives it so; unique). */
export async function findUser(
  db: Db,
  by: { id: string } | { email: string },
): Promise<Result<UserRow | undefined, DbError>> {
  return attempt(async () => {
    const [row] = await db
      .select({ id: users.id, email: users.email, display_name: users.displayName })
      .from(users)
      .where("id" in by ? eq(users.id, by.id) : eq(users.email, by.email));
    return row;
  });
}

/**
 * Creates or updates a user: users come from the identity provider (its sign-up or profile
 * webhook, or an operator, calls this with the token's `sub` as id), and a membership needs the
 * user first. Cached memberships carry the email, so when it changes the user's entry in every
 * community is dropped, as a membership change drops its one.
 *
 * Webhooks arrive in no order, so private.save_user (db/migrations/0026) orders each save
 * against the id's other saves and its erasure: an erased id is not saved again, and a version
 * older than one saved (`changed_at`, the provider's updated_at) changes nothing.
 */
export async function upsertUser(
  db: Db,
  cache: ForgetDeps,
  id: string,
  fields: { email: string; display_name?: string | null; changed_at?: string | null },
): Promise<Result<SavedUser, UserWriteError>> {
  const written = await attempt(() =>
    db
      .select({
        outcome: sql<"saved" | "stale" | "erased">`s.outcome`,
        email: sql<string>`s.email`,
        display_name: sql<string | null>`s.display_name`,
        previous_email: sql<string | null>`s.previous_email`,
      })
      .from(
        sql`private.save_user(${id}, ${fields.email}, ${fields.display_name !== undefined}, ${fields.display_name ?? null}, ${fields.changed_at ?? null}) s`,
      ),
  );
  if (!written.ok) {
    // The email may have changed after all (mayHaveCommitted): cached memberships carry it.
    if (mayHaveCommitted(written.error)) await forgetMembershipsOf(db, cache, id);
    // 23505 here is the email's unique index: the id's conflict is the upsert's own.
    return err(written.error.code === "23505" ? { kind: "conflict", field: "email" } : written.error);
  }
  const [saved] = written.value;
  if (!saved) return err({ kind: "query", message: "save_user returned no row" });
  if (saved.outcome === "erased") return err({ kind: "erased" });
  const user = { id, email: saved.email, display_name: saved.display_name };
  // A new user has no memberships yet, and an unchanged email leaves every cached one right:
  // profile webhooks call on every change of anything, and this skips a query and a KV delete
  // per community then.
  if (saved.previous_email !== null && saved.previous_email !== saved.email) {
    await forgetMembershipsOf(db, cache, id);
  }
  return ok({ user, applied: saved.outcome === "saved" });
}

/** Drops the cached membership of each community the user is in (their email changed). */
async function forgetMembershipsOf(db: Db, cache: ForgetDeps, id: string): Promise<void> {
  const memberships = await attempt(() =>
    db.select({ tenantId: tenantUsers.tenantId }).from(tenantUsers).where(eq(tenantUsers.userId, id)),
  );
  if (memberships.ok) {
    await Promise.all(memberships.value.map((m) => forgetMembership(cache, m.tenantId, id)));
  } else {
    log("warn", "user saved; cached memberships lapse with their TTL", { user_id: id, ...memberships.error });
  }
}

export interface ErasedUser {
  /** The communities the user was a member of; each one's cached membership is dropped. */
  tenant_ids: string[];
  /** Dead jobs the user had enqueued, deleted with them (they carry the user's payloads). */
  dead_jobs: number;
}

/**
 * Erases a user (the identity provider's account-deletion webhook, or an operator): the row
 * goes, and with it (ON DELETE CASCADE) their memberships, posts, notifications, journeys and
 * dead jobs; events they created and content they shared stay in their communities with no
 * author (SET NULL). Analytics events keep the user id, which then names no one (they have no
 * foreign keys and outlive what they describe).
 *
 * The delete and its reads are one statement (in private.erase_user): they see the snapshot
 * before the delete, so the memberships it cascades away can still be listed, and their cached
 * entries dropped as a removal drops one (also when its outcome is unknown, as upsertMember: then
 * the memberships read just before). The count of dead jobs is as of that snapshot; one recorded
 * while the erasure waited on the user's row is deleted by the cascade all the same
 * (db/migrations/0013).
 */
export async function deleteUser(
  db: Db,
  cache: ForgetDeps,
  id: string,
): Promise<Result<ErasedUser, MemberWriteError>> {
  // Read first, for an erasure whose outcome stays unknown: if it committed, its memberships are
  // gone with it, and their cached entries (a member's access) could no longer be found.
  const before = await attempt(() =>
    db.select({ tenantId: tenantUsers.tenantId }).from(tenantUsers).where(eq(tenantUsers.userId, id)),
  );
  if (!before.ok) return before;
  // private.erase_user (db/migrations/0026): also keeps the id from being saved again, whether
  // or not the user is here (their sign-up may not have arrived yet).
  const erased = await attempt(() =>
    db
      .select({
        tenant_ids: sql<string[]>`e.tenant_ids`,
        dead_jobs: sql<number>`e.dead_jobs`,
      })
      .from(sql`private.erase_user(${id}) e`),
  );
  if (!erased.ok) {
    if (mayHaveCommitted(erased.error)) {
      await Promise.all(before.value.map((m) => forgetMembership(cache, m.tenantId, id)));
    }
    return erased;
  }
  const [row] = erased.value;
  if (!row) return err({ kind: "not_found" });
  await Promise.all(row.tenant_ids.map((tenantId) => forgetMembership(cache, tenantId, id)));
  return ok(row);
}

export type MemberWriteError = DbError | { kind: "not_found" };

export interface MemberFields {
  role: "owner" | "admin" | "moderator" | "member";
  is_admin: boolean;
}

/**
 * The member `$2`'s user row, locked (KEY SHARE) before their membership's: the audit entry's
 * foreign key takes that lock when the entry is written, after the membership's row, and a
 * user's erasure takes them the other way round (the user, then by its cascade the
 * memberships), so the two at once could deadlock. No such user: nothing is written.
 */
const MEMBER_USER = "who AS (SELECT u.id FROM public.users u WHERE u.id = $2::uuid FOR KEY SHARE)";

/**
 * An operator adds a member or changes one (`$1` tenant, `$2` user), and the audit log records
 * it in the same statement (private.audit_member, db/migrations/0046, which a member's changes
 * go through too). `before` reads the statement's snapshot, taken before the upsert: no FOR
 * UPDATE, which would skip the row the upsert has just changed (a row this statement modified is
 * not locked again, but passed over) and take every change for an addition. `audited` is
 * counted so that it runs: a CTE that only SELECTs runs when something reads it.
 */
const UPSERT_MEMBER_SQL = `WITH ${MEMBER_USER}, before AS (
    SELECT tu.role, tu.is_admin FROM public.tenant_users tu
     WHERE tu.tenant_id = $1::uuid AND tu.user_id = $2::uuid
  ), written AS (
    INSERT INTO public.tenant_users AS tu (tenant_id, user_id, role, is_admin)
    SELECT $1::uuid, who.id, $3::text, $4::boolean FROM who
    ON CONFLICT (tenant_id, user_id) DO UPDATE SET role = excluded.role, is_admin = excluded.is_admin
    RETURNING tu.role, tu.is_admin
  ), audited AS MATERIALIZED (
    SELECT private.audit_member($1::uuid, NULL, $2::uuid, b.role, b.is_admin, w.role, w.is_admin, $5::text)
      FROM written w LEFT JOIN before b ON true
  )
  SELECT count(*)::int AS written FROM audited`;

/** An operator removes a member, recorded as member.removed with what they were. */
const REMOVE_MEMBER_SQL = `WITH ${MEMBER_USER}, gone AS (
    DELETE FROM public.tenant_users tu USING who WHERE tu.tenant_id = $1::uuid AND tu.user_id = who.id
    RETURNING tu.role, tu.is_admin
  ), audited AS MATERIALIZED (
    SELECT private.audit_member($1::uuid, NULL, $2::uuid, g.role, g.is_admin, NULL, NULL, $3::text) FROM gone g
  )
  SELECT count(*)::int AS removed FROM audited`;

/**
 * Adds or changes a membership, then drops its cached entry so the next request sees it; also
 * when the write's outcome is unknown (mayHaveCommitted): a dropped entry is only a cache miss.
 */
export async function upsertMember(
  sql: Queryable,
  cache: ForgetDeps,
  change: { tenantId: string; userId: string; fields: MemberFields; requestId: string },
): Promise<Result<true, MemberWriteError>> {
  const { tenantId, userId, fields, requestId } = change;
  const written = await attempt(() =>
    sql.query<{ written: number }>(UPSERT_MEMBER_SQL, [
      tenantId,
      userId,
      fields.role,
      fields.is_admin,
      requestId,
    ]),
  );
  if (written.ok || mayHaveCommitted(written.error)) await forgetMembership(cache, tenantId, userId);
  // 23503: the tenant does not exist; nothing written: the user does not.
  if (!written.ok) return err(written.error.code === "23503" ? { kind: "not_found" } : written.error);
  return written.value.rows[0]?.written ? ok(true) : err({ kind: "not_found" });
}

/**
 * Removes a membership and drops its cached entry, also when the outcome is unknown (as
 * upsertMember), and when there was none to remove: whatever is cached for it is wrong then too.
 */
export async function removeMember(
  sql: Queryable,
  cache: ForgetDeps,
  change: { tenantId: string; userId: string; requestId: string },
): Promise<Result<true, MemberWriteError>> {
  const { tenantId, userId, requestId } = change;
  const removed = await attempt(() =>
    sql.query<{ removed: number }>(REMOVE_MEMBER_SQL, [tenantId, userId, requestId]),
  );
  if (removed.ok || mayHaveCommitted(removed.error)) await forgetMembership(cache, tenantId, userId);
  if (!removed.ok) return removed;
  return removed.value.rows[0]?.removed ? ok(true) : err({ kind: "not_found" });
}

/**
 * Why a change of a community's members was refused (private.manage_member, db/migrations/0028
 * and 0031, says when each applies): the community is not active, the actor is not a member or
 * no admin, the target is no member, an owner's say was needed, or no owner or no admin would
 * be left.
 */
export type MemberRefusal =
  | "no_tenant"
  | "not_member"
  | "not_admin"
  | "no_such_member"
  | "owner_only"
  | "last_owner"
  | "last_admin";

/**
 * A member of the community changes another's role, or removes them (role null); removing
 * yourself is leaving. The target's cached membership is dropped as an operator's change drops
 * it: when the change happened, or its outcome is unknown. A refusal changed nothing, and leaves
 * the cached membership right.
 */
export async function manageMember(
  db: Db,
  cache: ForgetDeps,
  change: {
    tenantId: string;
    actorId: string;
    targetId: string;
    role: MemberFields["role"] | null;
    requestId: string;
  },
): Promise<Result<true, MemberRefusal | DbError>> {
  const { tenantId, actorId, targetId, role, requestId } = change;
  const roles = sql.join(
    ADMIN_ROLES.map((r) => sql`${r}`),
    sql`, `,
  );
  const changed = await attempt(() =>
    db
      .select({ outcome: sql<"done" | MemberRefusal>`m.outcome` })
      .from(
        sql`private.manage_member(${tenantId}, ${actorId}, ${targetId}, ${role}, ARRAY[${roles}]::text[], ${requestId}) AS m(outcome)`,
      ),
  );
  if (!changed.ok) {
    if (mayHaveCommitted(changed.error)) await forgetMembership(cache, tenantId, targetId);
    return changed;
  }
  const outcome = changed.value[0]?.outcome ?? "no_tenant";
  if (outcome !== "done") return err(outcome);
  await forgetMembership(cache, tenantId, targetId);
  return ok(true);
}
