import type { BloomFilter } from "../../../common/bloom";
import { type DirectoryMeta, readDirectory } from "../../../common/directory";
import { describeError, log } from "../../../common/log";

/** How often an isolate looks for a newer directory in KV; sooner while it has none. */
export const RELOAD_MS = 60_000;
const RELOAD_MISSING_MS = 5_000;
/**
 * A directory older than this is not trusted to say "no": the cron rebuilds it every 5 minutes,
 * so an old one means the rebuilds stopped and it may miss tenants created since.
 */
const MAX_AGE_MS = 15 * 60_000;

/** The isolate's copy of the active-tenant directory (workers/common/directory.ts). */
export class TenantDirectory {
  private current: { filter: BloomFilter; meta: DirectoryMeta } | null = null;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private loading: Promise<void> | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  /**
   * False only when the name certainly belongs to no active tenant. Without a (recent) directory
   * the answer is true: the caller then asks the database, as it would without a directory.
   */
  async mightExist(
    item: string,
    kv: KVNamespace,
    waitUntil: (p: Promise<unknown>) => void,
  ): Promise<boolean> {
    if (
      this.loading === undefined &&
      this.now() - this.checkedAt > (this.current ? RELOAD_MS : RELOAD_MISSING_MS)
    ) {
      const load = this.reload(kv);
      // The request that starts the first load waits for it; later loads refresh behind.
      // Other requests never await it: a continuation would run in this request's context.
      if (this.current) waitUntil(load);
      else await load;
    }
    const current = this.current;
    if (!current || this.now() - current.meta.builtAt > MAX_AGE_MS) return true;
    return current.filter.has(item);
  }

  private reload(kv: KVNamespace): Promise<void> {
    this.checkedAt = this.now();
    this.loading = readDirectory(kv)
      .then((found) => {
        if (found && (!this.current || found.meta.builtAt >= this.current.meta.builtAt)) this.current = found;
      })
      .catch((e) => log("warn", "tenant directory read failed", describeError(e)))
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }

  /** For tests: forget the directory, as a new isolate would start. */
  reset(): void {
    this.current = null;
    this.checkedAt = Number.NEGATIVE_INFINITY;
  }
}

export const tenantDirectory = new TenantDirectory();
