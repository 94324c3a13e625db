/**
 * A seeded generator (mulberry32): the same seed gives the same sequence, so a failure repeats.
 * Its arithmetic is exact 32-bit integer work (Math.imul). A textbook LCG written with `*` and
 * `%` on numbers is not: its products pass 2^53 and lose bits, and some seeds then cycle within
 * a few hundred draws (seed 37: a period of 220).
 */
export function seeded(seed: number) {
  let state = seed | 0;
  const next = () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    next,
    chance: (p: number) => next() < p,
    /** An integer from lo to hi, both included. */
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <X>(xs: readonly X[]): X => xs[Math.floor(next() * xs.length)] as X,
  };
}

export type Random = ReturnType<typeof seeded>;
