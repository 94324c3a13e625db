import { openDb } from "../../../common/db";
import { publishDirectory } from "../../../common/directory";
import { log } from "../../../common/log";
import type { Env } from "../env";
import { eraseTenants } from "./erase-tenants";
import { analyticsRetentionMonths, maintainPartitions } from "./partitions";
import { pruneDeadJobs, retentionDays } from "./prune-dead-jobs";
import { notificationsRetentionDays, pruneNotifications } from "./prune-notifications";
import { refreshUserCommunities } from "./refresh-views";
import { CRON } from "./schedules";

export async function runScheduled(
  controller: ScheduledController,
  env: Env,
  ctx: ExecutionContext,
): Promise<void> {
  const handle = openDb(env);
  try {
    switch (controller.cron) {
      case CRON.refreshViews: {
        const directory = await publishDirectory(handle.db, env.TENANT_CACHE);
        if (directory.ok)
          log("info", "tenant directory rebuilt", { cron: controller.cron, ...directory.value.meta });
        else log("error", "tenant directory rebuild failed", { cron: controller.cron, ...directory.error });
        const result = await refreshUserCommunities(handle.db);
        if (!result.ok) {
          log("error", "view refresh failed", { cron: controller.cron, ...result.error });
        } else {
          log(
            "info",
            result.value.refreshed ? "view refreshed" : "view refresh skipped: another is running",
            {
              cron: controller.cron,
              view: "private.mv_user_communities",
              ...result.value,
            },
          );
        }
        // After the refresh, which an erasure's minute must not hold back. Its reads start from
        // live memberships (feed/queries.ts), so rows the view may still hold of an erased
        // community lead nowhere until the next refresh drops them.
        const erasures = await eraseTenants(handle.pool, handle.db);
        if (!erasures.ok) {
          log("error", "community erasure failed: the next run goes on with it", {
            cron: controller.cron,
            ...erasures.error,
          });
        } else {
          for (const report of erasures.value) {
            if (report.erased) log("info", "community erased", { ...report });
            else if (report.more) log("info", "community erasure goes on in the next run", { ...report });
          }
        }
        if (!result.ok) throw new Error("view refresh failed");
        if (!erasures.ok) throw new Error("community erasure failed");
        return;
      }
      case CRON.maintainPartitions: {
        // Both run whatever the other's outcome; the run fails if either did.
        const partitions = await maintainPartitions(handle.db, {
          "public.analytics_events": analyticsRetentionMonths(env.ANALYTICS_RETENTION_MONTHS),
        });
        for (const { table, result } of partitions) {
          if (!result.ok) {
            log("error", "partition maintenance failed", { cron: controller.cron, table, ...result.error });
          } else if (result.value.default_rows > 0 && !result.value.default_rows_expected) {
            log("warn", "rows in DEFAULT partition: monthly partitions are behind or dates are far off", {
              ...result.value,
            });
          } else {
            log("info", "partitions ready", { ...result.value });
          }
        }
        const pruned = await pruneDeadJobs(handle.db, retentionDays(env.DEAD_JOBS_RETENTION_DAYS));
        if (!pruned.ok) {
          log("error", "dead jobs pruning failed", { cron: controller.cron, ...pruned.error });
        } else if (pruned.value.waiting_exhausted > 0) {
          log(
            "warn",
            "exhausted jobs have waited past the retention for a replay (POST /admin/dead-jobs/replay, or discard them: DELETE /admin/dead-jobs/{id}, POST /admin/dead-jobs/discard)",
            {
              ...pruned.value,
            },
          );
        } else {
          log("info", "dead jobs pruned", { ...pruned.value });
        }
        const notificationDays = notificationsRetentionDays(env.NOTIFICATIONS_RETENTION_DAYS);
        const notifications =
          notificationDays > 0 ? await pruneNotifications(handle.pool, notificationDays) : undefined;
        if (notifications && !notifications.ok) {
          log("error", "notifications pruning failed", { cron: controller.cron, ...notifications.error });
        } else if (notifications?.value.more) {
          log("warn", "notifications past the retention remain: the next daily run goes on deleting them", {
            ...notifications.value,
          });
        } else if (notifications) {
          log("info", "notifications pruned", { ...notifications.value });
        }
        if (partitions.some((p) => !p.result.ok)) throw new Error("partition maintenance failed");
        if (!pruned.ok) throw new Error("dead jobs pruning failed");
        if (notifications && !notifications.ok) throw new Error("notifications pruning failed");
        return;
      }
      default:
        // A schedule changed in wrangler.toml and not in ./schedules.ts: failed, not quietly idle.
        log("error", "unknown cron: nothing of it is run; its schedule must be one of cron/schedules.ts", {
          cron: controller.cron,
          known: Object.values(CRON),
        });
        throw new Error(`unknown cron ${controller.cron}`);
    }
  } finally {
    ctx.waitUntil(handle.close());
  }
}
