import path from "node:path";
import { ROOT } from "./config";

/**
 * The original design's SQL, made runnable, kept beside the repository (../shared). Only for
 * side-by-side comparisons (the baseline tests and the benchmarks); never part of the project.
 */
export const BASELINE_SQL = path.resolve(ROOT, "..", "shared", "reference", "baseline.sql");

/**
 * Our objects that carry the names the original's SQL creates (its view and refresh function):
 * dropped from a copy of our schema before that SQL is loaded into it.
 */
export const MAKE_ROOM_FOR_BASELINE = [
  "DROP VIEW private.mv_user_communities",
  "DROP MATERIALIZED VIEW private.mv_user_communities_a, private.mv_user_communities_b",
  "DROP FUNCTION private.refresh_user_communities()",
];
