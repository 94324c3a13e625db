/** The cron expressions of workers/batch/wrangler.toml, one name each. */
export const CRON = {
  refreshViews: "*/5 * * * *",
  maintainPartitions: "17 3 * * *",
} as const;
