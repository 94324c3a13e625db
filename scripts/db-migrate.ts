import { resolveDatabase } from "../db/local/config";
import { migrateDatabase } from "../db/local/migrate";

// Our migrator, not `drizzle-kit migrate`: it serialises deploys that migrate at once (see
// migrateDatabase); both keep the same journal.
const target = await resolveDatabase();
try {
  await migrateDatabase(target.url);
  console.log("migrations applied");
} finally {
  await target.stop();
}
