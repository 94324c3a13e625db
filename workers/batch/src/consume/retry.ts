/**
 * When a message is tried again, and where it goes after its last try. Plain values, no
 * Workers types: a Node test holds workers/batch/wrangler.toml to them.
 */

/**
 * Where every job queue's consumer sends a message that ran out of retries (in an environment
 * of its own, `jobs-dead-letter-<environment>`, as the job queues: isQueueNamed).
 */
export const DEAD_LETTER_QUEUE = "jobs-dead-letter";

/**
 * Every job queue consumer's max_retries in workers/batch/wrangler.toml: a job reaches the
 * dead-letter queue after this many retries, so after max_retries + 1 deliveries.
 */
export const JOB_QUEUE_MAX_RETRIES = 12;

/**
 * The jobs-dead-letter consumer's max_retries in workers/batch/wrangler.toml (the most Queues
 * allows). That queue has no dead-letter queue of its own: a message past its retries is
 * deleted, so they must outlast a database outage.
 */
export const DEAD_LETTER_MAX_RETRIES = 100;

/** Exponential back-off per delivery attempt; priority 8+ backs off five times faster. */
export function retryDelaySeconds(attempts: number, priority: number): number {
  const base = priority >= 8 ? 1 : 5;
  return Math.min(300, base * 2 ** Math.max(0, attempts - 1));
}

/**
 * Doubles from 1 minute to at most an hour: 100 retries then span about four days, the queues'
 * default message retention.
 */
export function deadLetterRetryDelaySeconds(attempts: number): number {
  return Math.min(3600, 60 * 2 ** Math.max(0, attempts - 1));
}
