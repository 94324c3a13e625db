/** A numeric var that must be positive, or the fallback when it is missing or not one. */
export function positiveNumber(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}

/** A var that must be a whole number of at least 1 (a count, a number of days), or the fallback. */
export function positiveInteger(value: string | undefined, fallback: number): number {
  const n = Math.floor(positiveNumber(value, fallback));
  return n >= 1 ? n : fallback;
}
