import { timeOrderedId } from "../common/ids";
import { type JobMessage, MESSAGE_VERSION } from "../common/jobs";

/** A valid queue message of each operation, with every envelope field filled in. */
export function job<O extends JobMessage["operation"]>(
  operation: O,
  fields: Partial<Omit<Extract<JobMessage, { operation: O }>, "operation" | "queue">> &
    Pick<Extract<JobMessage, { operation: O }>, "tenant_id" | "user_id" | "payload">,
): Extract<JobMessage, { operation: O }> {
  const queue = {
    send_notifications: "notification",
    record_analytics: "analytics",
    update_content: "content_update",
  }[operation];
  return {
    v: MESSAGE_VERSION,
    job_id: timeOrderedId(),
    priority: 1,
    created_at: new Date().toISOString(),
    queue,
    operation,
    ...fields,
  } as unknown as Extract<JobMessage, { operation: O }>;
}
