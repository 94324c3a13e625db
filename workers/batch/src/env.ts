/** Bindings come from `wrangler types` (workers/batch/worker-configuration.d.ts). */
export type Env = BatchEnv;
