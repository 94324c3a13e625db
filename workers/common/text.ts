/**
 * Text Postgres cannot store: U+0000 (text and jsonb refuse it) and UTF-16 surrogates without
 * their pair (not Unicode; jsonb refuses their escapes). One such character in a statement's
 * parameters fails the whole statement: at the API it was a 500, and in a queue batch it failed
 * every job of the batch, again on every retry.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is exactly what is looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");

/**
 * Where in a value (strings, arrays, objects, their keys too) the first unstorable text is, as a
 * dotted path ("" for the value itself), or null when there is none. A walk with a stack of its
 * own, not recursion: a body may nest thousands of levels deep within its size cap.
 */
export function unstorableTextAt(value: unknown): string | null {
  type Step = { value: unknown; key?: PropertyKey; parent?: Step };
  const pathOf = (step: Step, key?: PropertyKey): string => {
    const keys: PropertyKey[] = key === undefined ? [] : [key];
    for (let s: Step | undefined = step; s?.key !== undefined; s = s.parent) keys.unshift(s.key);
    return keys.map(String).join(".");
  };
  const stack: Step[] = [{ value }];
  for (let step = stack.pop(); step; step = stack.pop()) {
    const v = step.value;
    if (typeof v === "string") {
      if (UNSTORABLE.test(v)) return pathOf(step);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], key: i, parent: step });
    } else if (v !== null && typeof v === "object") {
      const entries = Object.entries(v);
      for (const [key] of entries) if (UNSTORABLE.test(key)) return pathOf(step, key);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, item] = entries[i] as [string, unknown];
        stack.push({ value: item, key, parent: step });
      }
    }
  }
  return null;
}

/** The text with each unstorable character replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE_ALL, "\uFFFD");
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
  return jsonText(value).replace(/(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi, "$1\\ufffd");
}

const bigintAsText = (_key: string, v: unknown): unknown => (typeof v === "bigint" ? v.toString() : v);

/**
 * JSON text for whatever a queue message carried, without throwing: JSON.stringify throws on a
 * bigint and on a cycle, both of which a v8 message (Queues' default content type) may hold, and
 * the evidence of such a message must still be written. A bigint becomes its digits, an object
 * met a second time "[circular]"; what cannot be written at all (nested deeper than the stack)
 * becomes {"unserializable": why}.
 */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value, bigintAsText) ?? "null";
  } catch {
    // A cycle, or nesting deeper than the stack: the second try writes a cycle, and says why
    // it cannot write the other.
  }
  const seen = new WeakSet<object>();
  try {
    const text = JSON.stringify(value, (key, v: unknown) => {
      const out = bigintAsText(key, v);
      if (typeof out !== "object" || out === null) return out;
      if (seen.has(out)) return "[circular]";
      seen.add(out);
      return out;
    });
    return text ?? "null";
  } catch (e) {
    return JSON.stringify({ unserializable: e instanceof Error ? e.message : String(e) });
  }
}
