import type { Random } from "./random";

/** Values a producer or a client could send by mistake, or on purpose, anywhere JSON goes. */
export const ODD_JSON: readonly unknown[] = [
  null,
  0,
  -1,
  1.5,
  1e308,
  2 ** 53 + 1,
  99,
  true,
  "",
  " ",
  "\u0000",
  "\ud800",
  "x".repeat(5_000),
  [],
  {},
  [1, [2, [3]]],
  { a: { b: 1 } },
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59-05:00",
  "2026-01-01T00:00:00+16:00",
  "constructor",
  "__proto__",
  "<script>",
  "'; DROP TABLE posts; --",
];

/** Keys a damaged object may gain: ones no client may set, and ones that name prototypes. */
const ADDED_KEYS = [
  "__proto__",
  "constructor",
  "tenant_id",
  "user_id",
  "deleted_at",
  "id",
  "is_admin",
  "extra",
];

/**
 * A copy of `value` with each field kept, dropped, replaced by `odd()` or damaged inside, and
 * now and then a field added. Added with defineProperty: assigning "__proto__" would set the
 * copy's prototype instead of giving it that key.
 */
export function damage(value: unknown, r: Random, odd: () => unknown, depth = 0): unknown {
  if (Array.isArray(value)) return value.map((v) => (r.chance(0.15) ? odd() : damage(v, r, odd, depth + 1)));
  if (value === null || typeof value !== "object" || depth > 3) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const roll = r.next();
    if (roll < 0.1) out[key] = odd();
    else if (roll < 0.15) continue;
    else out[key] = damage(inner, r, odd, depth + 1);
  }
  if (r.chance(0.1)) {
    Object.defineProperty(out, r.pick(ADDED_KEYS), {
      value: odd(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
