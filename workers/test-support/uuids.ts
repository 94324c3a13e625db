/**
 * What a test reads back from an id: its version nibble and, for a version 7 id, the Unix time in
 * ms in its first 48 bits; undefined for text that is no UUID.
 */
const UUID = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export function uuidVersion(id: string): number | undefined {
  const m = UUID.exec(id);
  return m ? Number.parseInt(m[3] ?? "", 16) : undefined;
}

export function uuidTime(id: string): number | undefined {
  const m = UUID.exec(id);
  return m ? Number.parseInt(`${m[1]}${m[2]}`, 16) : undefined;
}
