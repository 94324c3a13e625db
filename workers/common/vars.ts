/** A numeric var that must be positive, or the fallback when it is missing or not one. */
export function positiveNumber(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
