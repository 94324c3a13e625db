/**
 * Miniflare's rate-limit windows are aligned to the wall clock (epoch minutes): a test that
 * fills a window must not straddle two, or its last request lands in a fresh one and passes.
 * Waits for the next window when this one has less than `needMs` left.
 */
export async function awaitRoomInRateLimitWindow(needMs = 3_000, periodMs = 60_000): Promise<void> {
  const left = periodMs - (Date.now() % periodMs);
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}
