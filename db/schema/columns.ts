import { sql } from "drizzle-orm";
import { timestamp, uuid } from "drizzle-orm/pg-core";

/**
 * A UUID version 7 (RFC 9562; PostgreSQL 18's uuidv7(), written for 17): gen_random_uuid()'s
 * random bits with the first 48 replaced by the Unix time in ms, and the version nibble turned
 * from 4 (0100) into 7 (0111) by setting its two low bits (set_bit counts from each byte's low
 * bit). clock_timestamp(), not now(): a long transaction's ids carry the time each was made.
 *
 * A random id (version 4) puts each new key on a random leaf page of its index: once a table
 * outgrows memory, every row of a batch reads and dirties pages of its own, and pages split half
 * full all over the index. A time-ordered key goes to the right edge, already in memory (the `ids`
 * benchmark). Job ids, which key the rows a job writes, are made the same way by the tenant
 * worker (workers/common/ids.ts).
 *
 * An expression, not a function: Postgres parses an SQL function's body each time it plans a
 * statement that calls it (76 us more planning for a one-row insert, measured), while a column
 * default is stored parsed. date_part, not extract, to stay in float8 rather than numeric.
 */
export const UUID_V7_SQL =
  "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing substring(int8send(floor(date_part('epoch', clock_timestamp()) * 1000)::bigint) from 3) from 1 for 6), 52, 1), 53, 1), 'hex')::uuid";

const uuidV7 = sql.raw(UUID_V7_SQL);

/** An id Postgres makes, time-ordered (UUID_V7_SQL), so bulk inserts never round-trip for ids. */
export const newId = () => uuid("id").notNull().default(uuidV7);

export const id = () => newId().primaryKey();

/** Every timestamp is timestamptz: the workers run in every timezone at once. */
export const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: "string" });

export const createdAt = () => tstz("created_at").notNull().defaultNow();
export const updatedAt = () => tstz("updated_at").notNull().defaultNow();
export const deletedAt = () => tstz("deleted_at");

export const timestamps = () => ({ createdAt: createdAt(), updatedAt: updatedAt() });

/** An empty JSON object, the default of every settings-like jsonb column. */
export const emptyObject = sql`'{}'::jsonb`;
