import { log } from "./log";

/** Each var set to something it cannot mean, and said so, in this isolate. */
const said = new Set<string>();

/**
 * Says that a var holds what it cannot mean, and what is used instead (its default, or the value
 * read as far as it goes). Before, nothing showed it: "30d" for a retention in days deleted
 * nothing, "l1;kv" for the cache tiers turned both off. Once an isolate, not once a request:
 * some vars are read on every request.
 */
export function unreadableVar(name: string, value: string, used: unknown): void {
  const key = `${name}=${value}`;
  if (said.has(key)) return;
  said.add(key);
  log("warn", "var not understood", { var: name, value, used });
}

/** Unset, or set to nothing: the var's default, as wrangler.toml's empty retentions say. */
export function isBlank(value: string | undefined): value is undefined {
  return value === undefined || value.trim() === "";
}

/** The var `name`, a number that must be positive, or the fallback when it is missing or not one (said). */
export function positiveNumber(value: string | undefined, fallback: number, name: string): number {
  if (isBlank(value)) return fallback;
  const n = Number(value);
  if (Number.isFinite(n) && n > 0) return n;
  unreadableVar(name, value, fallback);
  return fallback;
}

/** The var `name`, a whole number of at least 1 (a count, a number of days), or the fallback. */
export function positiveInteger(value: string | undefined, fallback: number, name: string): number {
  const n = Math.floor(positiveNumber(value, fallback, name));
  if (n >= 1) return n;
  // "0.5" is a positive number, but not a whole one; said unless positiveNumber already said it.
  if (!isBlank(value) && Number(value) > 0) unreadableVar(name, value, fallback);
  return fallback;
}

/** A retention in whole units: unset, empty or 0 keeps everything (0); else at least 1. */
export function retention(value: string | undefined, name: string): number {
  if (isBlank(value) || Number(value) === 0) return 0;
  return positiveInteger(value, 0, name);
}

/**
 * The shortest secret taken without a word: 32 characters, what `openssl rand -base64 24` gives.
 * A shorter admin or hook token is guessed a request at a time (rate-limited per address, not
 * refused); a shorter HS256 secret is guessed offline from any one token it signed.
 */
export const SECRET_MIN_LENGTH = 32;

/** Says, once an isolate, that the secret `name` is shorter than SECRET_MIN_LENGTH; never its value. */
export function shortSecret(name: string, value: string): void {
  if (value.length >= SECRET_MIN_LENGTH) return;
  const key = `${name}#${value.length}`;
  if (said.has(key)) return;
  said.add(key);
  log("warn", "secret too short to resist guessing", {
    secret: name,
    length: value.length,
    minimum: SECRET_MIN_LENGTH,
  });
}
