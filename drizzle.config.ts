import { defineConfig } from "drizzle-kit";

// `npm run db:migrate` sets DATABASE_URL (to the embedded database when none is given).
export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./db/migrations",
  dbCredentials: { url: process.env.DATABASE_URL ?? "" },
  migrations: { table: "__drizzle_migrations", schema: "drizzle" },
  strict: true,
});
