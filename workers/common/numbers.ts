import { z } from "zod";

const wholeNumberMessage = (min: number, max: number) => `a whole number from ${min} to ${max}`;

/**
 * A whole number from min to max, with one message for every way to miss it. Zod's own told a
 * client that sent `?limit=abc` "expected number, received NaN", and one that sent 1e300 two
 * things at once (past the safe integers, and past max).
 */
export function wholeNumber(min: number, max: number) {
  const error = wholeNumberMessage(min, max);
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

/** The same in a query string, where every value is text (`?limit=` is 0, and told so). */
export function wholeNumberParam(min: number, max: number) {
  const error = wholeNumberMessage(min, max);
  return z.coerce.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}
