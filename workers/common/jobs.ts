import { z } from "zod";
import { Id, uuidText } from "./ids";
import { wholeNumber } from "./numbers";
import { microsOf, PgTime } from "./time";

/**
 * The one queue message shape, shared by the enqueue API (producer) and the batch worker
 * (consumer). Both validate with these schemas: the consumer trusts nothing it is handed.
 */

/** What a client names (`queue`), the operation it must carry, and the Cloudflare queue. */
export const QUEUES = {
  notification: { operation: "send_notifications", queue: "notifications", binding: "NOTIFICATIONS_QUEUE" },
  analytics: { operation: "record_analytics", queue: "analytics", binding: "ANALYTICS_QUEUE" },
  content_update: { operation: "update_content", queue: "content-updates", binding: "CONTENT_UPDATES_QUEUE" },
} as const;

export type QueueKind = keyof typeof QUEUES;
export type Operation = (typeof QUEUES)[QueueKind]["operation"];
export type QueueBinding = (typeof QUEUES)[QueueKind]["binding"];

export const QUEUE_KINDS = Object.keys(QUEUES) as [QueueKind, ...QueueKind[]];
export const OPERATIONS = QUEUE_KINDS.map((k) => QUEUES[k].operation) as [Operation, ...Operation[]];

/**
 * Whether a Cloudflare queue is the one named `base`, in any environment: `base` itself, or
 * `base-<environment>` (notifications-staging). Queue names are unique in an account and a queue
 * has one consumer, so a second environment in the account must name its queues apart; wrangler
 * names a Worker's environments the same way (communities-batch-staging).
 */
export function isQueueNamed(name: string, base: string): boolean {
  return name === base || (name.length > base.length + 1 && name.startsWith(`${base}-`));
}

/** The kind of jobs a Cloudflare queue carries, by its name (see isQueueNamed); none for others. */
export function queueKindOf(name: string): QueueKind | undefined {
  return QUEUE_KINDS.find((k) => isQueueNamed(name, QUEUES[k].queue));
}

/** Properties and data objects are stored as jsonb; the cap keeps one job well under a queue message's 128 KB. */
export const MAX_JSON_BYTES = 8 * 1024;

const encoder = new TextEncoder();

/**
 * Whether an object's JSON is at most maxBytes of UTF-8. A UTF-16 unit of JSON text is 1
 * to 3 bytes (JSON.stringify escapes lone surrogates), so only text between a third of the cap
 * and the cap is encoded: the consumer checks every message of a batch, and encoding each was
 * a third of its validation time in workerd.
 */
function fitsJsonCap(o: unknown, maxBytes: number): boolean {
  const json = JSON.stringify(o);
  if (json.length * 3 <= maxBytes) return true;
  return json.length <= maxBytes && encoder.encode(json).length <= maxBytes;
}

/**
 * How deep objects and arrays may nest in a stored JSON object. Within its byte cap a body could
 * nest thousands of levels, which overflowed the call stack of any recursive walk over it (a
 * request with an Idempotency-Key was a 500); no settings or event data needs more than a few.
 */
const MAX_JSON_DEPTH = 32;

const NOT_JSON_DATA = "JSON data only: strings, finite numbers, booleans, null, arrays and plain objects";

/**
 * Why a value is not JSON data nested at most `max` levels (the value itself is the first), or
 * null. A request body, parsed from JSON, is always JSON data; a queue message need not be: v8,
 * Queues' default content type, carries values JSON has no text for (a bigint made the size
 * check throw, which failed the job's whole batch) or changes on the way (a Map becomes {}, NaN
 * null). Undefined passes: JSON leaves it out, as a reader of the stored object would. The depth
 * is judged in the same walk, before an object's contents: a cycle is too deep.
 */
function jsonDataFault(value: unknown, max: number): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top;
    if (v === null || v === undefined || typeof v === "string" || typeof v === "boolean") continue;
    if (typeof v === "number") {
      if (Number.isFinite(v)) continue;
      return NOT_JSON_DATA;
    }
    if (typeof v !== "object") return NOT_JSON_DATA;
    if (depth > max) return `nested at most ${max} levels`;
    if (!Array.isArray(v)) {
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) return NOT_JSON_DATA;
    }
    for (const item of Object.values(v)) stack.push([item, depth + 1]);
  }
  return null;
}

/**
 * A JSON object nested at most MAX_JSON_DEPTH levels whose text is at most `maxBytes` of UTF-8.
 * Its shape is judged first and alone (no further check runs after a fault): the size's
 * JSON.stringify is a recursive walk too, and throws on a bigint.
 */
export function boundedJsonObject(maxBytes: number) {
  return z
    .record(z.string(), z.unknown())
    .superRefine((o, ctx) => {
      const fault = jsonDataFault(o, MAX_JSON_DEPTH);
      if (fault !== null) ctx.addIssue({ code: "custom", message: fault, continue: false });
    })
    .refine((o) => fitsJsonCap(o, maxBytes), { message: `at most ${maxBytes} bytes of JSON` });
}

const boundedObject = boundedJsonObject(MAX_JSON_BYTES);

/** A notification's type, as its sender names it: what members mute some of them by. */
export const NotificationType = z.string().trim().min(1).max(64);

export const SendNotificationsPayload = z
  .object({
    type: NotificationType,
    title: z.string().trim().min(1).max(200),
    message: z.string().min(1).max(4000),
    data: boundedObject.default({}),
    /** Who is notified; the sender when omitted. Anyone but the sender needs tenant admin. */
    recipient_ids: z.array(Id).min(1).max(500).optional(),
  })
  .strict();

export const RecordAnalyticsPayload = z
  .object({
    event_type: z
      .string()
      .regex(/^[a-z][a-z0-9_.:-]{0,99}$/, "lower-case letters, digits and _ . : -, at most 100"),
    properties: boundedObject.default({}),
  })
  .strict();

/** A link a page will render (an event's image, a tenant's logo): http(s) only, never javascript: or data:. */
export const WebUrl = z.url({ protocol: /^https?$/, error: "an http(s) URL" }).max(2048);

/**
 * The fields a user may write, on creating a post or an event (POST /v1/posts, /v1/events) and
 * editing one (update_content). Anything else (tenant_id, user_id, deleted_at, counters, ids) is
 * refused.
 */
export const PostFields = z.object({ content: z.string().min(1).max(20_000) }).strict();

const eventFields = z.object({
  title: z.string().trim().min(1).max(200),
  description: z.string().max(20_000).nullable(),
  start_date: PgTime,
  end_date: PgTime.nullable(),
  location_name: z.string().max(200).nullable(),
  image_url: WebUrl.nullable(),
});

/** A PATCH body's rule (`.refine(...NAMES_A_FIELD)`): a change that names nothing is a mistake. */
export const NAMES_A_FIELD = [
  (fields: object) => Object.keys(fields).length > 0,
  "name at least one field to change",
] as const;

/**
 * A body's rule (`.refine(...endNotBefore("start_date", "end_date"))`): where it gives both, the
 * end is not before the start. Times to the microsecond, as Postgres compares them; a day
 * (YYYY-MM-DD) as its midnight, which orders days as they are.
 */
export function endNotBefore<S extends string, E extends string>(start: S, end: E) {
  const inOrder = (fields: { [K in S | E]?: string | null }) => {
    const from = fields[start];
    const to = fields[end];
    return !from || !to || microsOf(to) >= microsOf(from);
  };
  const refusal = { message: `${end} is before ${start}`, path: [end] };
  return [inOrder, refusal] as const;
}

/** A new event: a title and a start, the rest optional. */
export const EventFields = eventFields
  .partial({ description: true, end_date: true, location_name: true, image_url: true })
  .strict()
  .refine(...endNotBefore("start_date", "end_date"));
export const EventUpdates = eventFields
  .partial()
  .strict()
  .refine(...NAMES_A_FIELD)
  .refine(...endNotBefore("start_date", "end_date"));

export const UpdateContentPayload = z.discriminatedUnion("content_type", [
  z.object({ content_type: z.literal("posts"), content_id: Id, updates: PostFields }).strict(),
  z.object({ content_type: z.literal("events"), content_id: Id, updates: EventUpdates }).strict(),
]);

export type SendNotifications = z.infer<typeof SendNotificationsPayload>;
export type RecordAnalytics = z.infer<typeof RecordAnalyticsPayload>;
export type UpdateContent = z.infer<typeof UpdateContentPayload>;

/**
 * The message format's version. A change the consumer cannot read bumps it, and the batch worker
 * is deployed first: a consumer given a newer message retries it rather than refusing it.
 */
export const MESSAGE_VERSION = 1;

/**
 * A message of a newer format than this code reads: its producer was deployed before this
 * consumer. It is no malformed job, and the code that reads it is on its way.
 */
export function isNewerFormat(body: unknown): boolean {
  const v = (body as { v?: unknown } | null)?.v;
  return typeof v === "number" && v > MESSAGE_VERSION;
}

/** 1 to 10: what the enqueue API takes and a message carries (the API says what it changes). */
export const Priority = wholeNumber(1, 10);

const envelope = {
  v: z.literal(MESSAGE_VERSION),
  job_id: Id,
  tenant_id: Id,
  /** The verified user who enqueued it. */
  user_id: Id,
  priority: Priority,
  /** Enqueue time: the version of a content update, and the partition key of an analytics event. */
  created_at: PgTime,
};

export const JobMessage = z.discriminatedUnion("operation", [
  z.object({
    ...envelope,
    queue: z.literal("notification"),
    operation: z.literal("send_notifications"),
    payload: SendNotificationsPayload,
  }),
  z.object({
    ...envelope,
    queue: z.literal("analytics"),
    operation: z.literal("record_analytics"),
    payload: RecordAnalyticsPayload,
  }),
  z.object({
    ...envelope,
    queue: z.literal("content_update"),
    operation: z.literal("update_content"),
    payload: UpdateContentPayload,
  }),
]);

export type JobMessage = z.infer<typeof JobMessage>;
export type JobOf<O extends Operation> = Extract<JobMessage, { operation: O }>;

/** A job id from an Idempotency-Key: the same tenant, user and key always give the same id. */
export async function idempotentJobId(tenantId: string, userId: string, key: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", encoder.encode(`${tenantId}\n${userId}\n${key}`)),
  );
  // Version 8 (custom): a hash, not a time, since a retry must get the same id whenever it comes.
  return uuidText(digest, 8);
}
