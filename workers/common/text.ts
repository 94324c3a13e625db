/**
 * Text Postgres cannot store: U+0000 (text and jsonb refuse it) and UTF-16 surrogates without
 * their pair (not Unicode; jsonb refuses their escapes). One such character in a statement's
 * parameters fails the whole statement: at the API it was a 500, and in a queue batch it failed
 * every job of the batch, again on every retry.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Where in a value (strings, arrays, objects, their keys too) the first unstorable text is, as a
 * dotted path ("" for the value itself), or null when there is none.
 */
export function unstorableTextAt(value: unknown, path: readonly PropertyKey[] = []): string | null {
  if (typeof value === "string") return UNSTORABLE.test(value) ? path.map(String).join(".") : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const at = unstorableTextAt(item, [...path, i]);
      if (at !== null) return at;
    }
    return null;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (UNSTORABLE.test(key)) return [...path, key].map(String).join(".");
      const at = unstorableTextAt(item, [...path, key]);
      if (at !== null) return at;
    }
  }
  return null;
}

/** The text with each unstorable character replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(new RegExp(UNSTORABLE.source, "g"), "\uFFFD");
}

export const UNSTORABLE_TEXT_MESSAGE =
  "text must not contain U+0000 or unpaired UTF-16 surrogates (Postgres cannot store them)";

/**
 * JSON text jsonb accepts, for values kept as evidence whatever they hold (a dead job's
 * message). JSON.stringify writes U+0000 and unpaired surrogates (and only those of the two: a
 * pair it writes as is) as \u escapes, which jsonb refuses; each becomes U+FFFD. An escape is
 * one only after an even run of backslashes ("\\u0000" is a backslash and "u0000", and stays).
 */
export function storableJson(value: unknown): string {
  return JSON.stringify(value ?? null).replace(
    /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi,
    "$1\\ufffd",
  );
}
