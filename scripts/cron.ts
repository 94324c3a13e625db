/**
 * Whether a cron expression (the five fields Cloudflare's Cron Triggers take: minute, hour, day
 * of month, month, day of week; numbers, `*`, `a-b`, `/step` and lists) fires at `at`, in UTC as
 * Cloudflare runs them. `wrangler dev` fires no cron by itself, so `npm run dev` fires the batch
 * worker's on the schedules the worker knows. Names (JAN, MON) and L, W or # are not read: a
 * field with them never matches.
 */
export function cronMatches(expression: string, at: Date): boolean {
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return false;
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string];
  const dayOk = fieldMatches(day, at.getUTCDate(), 1, 31);
  const weekdayOk =
    fieldMatches(weekday, at.getUTCDay(), 0, 6) || fieldMatches(weekday, at.getUTCDay() || 7, 0, 7);
  // As in cron: when both day fields are restricted, either one may match.
  const days = day !== "*" && weekday !== "*" ? dayOk || weekdayOk : dayOk && weekdayOk;
  return (
    fieldMatches(minute, at.getUTCMinutes(), 0, 59) &&
    fieldMatches(hour, at.getUTCHours(), 0, 23) &&
    fieldMatches(month, at.getUTCMonth() + 1, 1, 12) &&
    days
  );
}

function fieldMatches(field: string, value: number, min: number, max: number): boolean {
  return field.split(",").some((part) => {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return false;
    const from = m[1] === "*" ? min : Number(m[2]);
    const to = m[1] === "*" ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : from;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    return step > 0 && value >= from && value <= to && (value - from) % step === 0;
  });
}
