import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ApiError } from "../../../common/errors";
import { requireBearerSecret, rotatingSecret, validationHook } from "../../../common/http";
import { Id } from "../../../common/ids";
import { errorResponses, HOOK_SECURITY, jsonResponse } from "../../../common/openapi";
import { storableText } from "../../../common/text";
import { deleteUser, upsertUser } from "../auth/membership";
import type { HonoEnv } from "../env";
import { getDb, memberCache, timed } from "../middleware/request";
import { fail, ProviderTime, UserEmail } from "./admin";

/**
 * Users live in the identity provider; `users` here holds the ones memberships point at. With
 * Supabase Auth the sign-ups, email changes and account deletions reach this route as Supabase
 * sends them on its own: a Database Webhook on auth.users (a POST of the changed row, which is
 * all its webhooks can send: PUT and DELETE /admin/users/{id} are out of its reach). Its own
 * token, not ADMIN_TOKEN: the webhook's headers are stored in the Supabase database, readable by
 * whoever administers that project, and this token can only do what such a webhook does.
 */
const hookTokens = (env: { SUPABASE_HOOK_TOKEN?: string; SUPABASE_HOOK_TOKEN_PREVIOUS?: string }) =>
  // The previous one too while set: the trigger's header and this secret cannot change at the
  // same instant, and a call refused meanwhile is never sent again (pg_net does not retry).
  rotatingSecret(env.SUPABASE_HOOK_TOKEN, env.SUPABASE_HOOK_TOKEN_PREVIOUS);

export const requireHookToken = requireBearerSecret(hookTokens, "hook token");

/** The columns of auth.users read here; the row has some thirty more, password hash included. */
const authUser = (error: string) =>
  z
    .object(
      {
        id: Id,
        email: z.string().nullable().optional(),
        raw_user_meta_data: z.record(z.string(), z.unknown()).nullable().optional(),
        deleted_at: z.string().nullable().optional(),
        updated_at: z.string().nullable().optional(),
      },
      { error },
    )
    .loose();

const ofAuthUsers = {
  schema: z.literal("auth", { error: "this hook takes changes of auth.users" }),
  table: z.literal("users", { error: "this hook takes changes of auth.users" }),
};

/** What is read of each kind of change: the new row of a sign-up or change, the old of a deletion. */
const SupabaseUserChange = z
  .discriminatedUnion("type", [
    z.object({ type: z.enum(["INSERT", "UPDATE"]), ...ofAuthUsers, record: authUser("the auth.users row") }),
    z.object({
      type: z.literal("DELETE"),
      ...ofAuthUsers,
      old_record: authUser("the deleted auth.users row"),
    }),
  ])
  .openapi("SupabaseUserChange");

const HookResult = z
  .object({
    user_id: z.guid(),
    action: z.enum(["saved", "erased", "skipped"]),
    reason: z.string().optional().describe("why nothing was saved (skipped)"),
  })
  .openapi("UserHookResult");

/** What Supabase keeps as the name: the dashboard's display name, else an OAuth provider's. */
function displayName(meta: Record<string, unknown> | null | undefined): string | undefined {
  for (const key of ["display_name", "full_name", "name"]) {
    const value = meta?.[key];
    // Cut, not refused: a provider's long name must not cost the user their sync.
    if (typeof value === "string" && value.trim() !== "") return storableText(value.trim()).slice(0, 200);
  }
  return undefined;
}

const skipped = (c: Context<HonoEnv>, userId: string, reason: string) =>
  c.json({ user_id: userId, action: "skipped" as const, reason }, 200);

export const hooks = new OpenAPIHono<HonoEnv>({ defaultHook: validationHook }).openapi(
  createRoute({
    method: "post",
    path: "/supabase/users",
    operationId: "supabaseUserHook",
    summary: "A Supabase Database Webhook of auth.users: sign-ups and changes saved, deletions erased",
    description:
      "INSERT and UPDATE save the user as PUT /admin/users/{id} does (email, and a display name from raw_user_meta_data); a DELETE, or a row with deleted_at (a soft delete), erases them as DELETE /admin/users/{id} does. Skipped: a user with no email yet (a phone or anonymous sign-in), a row older (updated_at) than one saved, and any row of a user erased here, whose sign-up or change came after the erasure. Answers 200 for a change already applied, so a repeated call is harmless.",
    security: HOOK_SECURITY,
    request: {
      body: { content: { "application/json": { schema: SupabaseUserChange } }, required: true },
    },
    responses: {
      200: jsonResponse(HookResult, "Applied, or nothing to apply"),
      ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503),
    },
  }),
  async (c) => {
    const change = c.req.valid("json");
    const row = change.type === "DELETE" ? change.old_record : change.record;
    if (change.type === "DELETE" || row.deleted_at) {
      const erased = await timed(c, () => deleteUser(getDb(c), memberCache(c), row.id));
      // Already gone (a second delivery, or a user never saved here): nothing left to erase.
      if (!erased.ok && erased.error.kind !== "not_found") fail(c, erased.error);
      return c.json({ user_id: row.id, action: "erased" as const }, 200);
    }
    const email = row.email?.trim();
    if (!email) return skipped(c, row.id, "no email yet (a phone or anonymous sign-in)");
    const valid = UserEmail.safeParse(email);
    if (!valid.success) throw new ApiError("validation_failed", "record.email: an email address");
    const saved = await timed(c, () =>
      upsertUser(getDb(c), memberCache(c), row.id, {
        email: valid.data,
        display_name: displayName(row.raw_user_meta_data),
        // What orders this call against the user's others; a value that is not a time leaves it
        // unordered rather than lose the sign-up or change.
        changed_at: ProviderTime.safeParse(row.updated_at).data,
      }),
    );
    if (!saved.ok) {
      // A call that came after the erasure: pg_net sends a batch of calls at once, in no order.
      if (saved.error.kind === "erased") return skipped(c, row.id, "erased here before this call arrived");
      fail(c, saved.error);
    }
    if (!saved.value.applied) return skipped(c, row.id, "a newer change of this user (updated_at) is saved");
    return c.json({ user_id: row.id, action: "saved" as const }, 200);
  },
);
