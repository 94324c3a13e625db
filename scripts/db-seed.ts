import { resolveDatabase } from "../db/local/config";
import { migrateDatabase } from "../db/local/migrate";
import { seedDatabase } from "../db/local/seed";

const target = await resolveDatabase();
try {
  await migrateDatabase(target.url);
  await seedDatabase(target.url);
  console.log("seeded: tenants acme, globex, initech (inactive); users alice, bob, carol");
} finally {
  await target.stop();
}
