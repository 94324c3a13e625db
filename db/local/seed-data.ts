/** The demo data of `npm run db:seed`: fixed ids so tokens and curl lines stay valid. */
export const DEMO_TENANTS = {
  acme: {
    id: "a0000000-0000-4000-8000-000000000001",
    slug: "acme",
    name: "Acme Climbers",
    domain: "community.acme.test",
    active: true,
  },
  globex: {
    id: "a0000000-0000-4000-8000-000000000002",
    slug: "globex",
    name: "Globex Runners",
    domain: null,
    active: true,
  },
  initech: {
    id: "a0000000-0000-4000-8000-000000000003",
    slug: "initech",
    name: "Initech Makers",
    domain: null,
    active: false,
  },
} as const;

export const DEMO_USERS = {
  alice: { id: "b0000000-0000-4000-8000-000000000001", email: "alice@example.com", name: "Alice" },
  bob: { id: "b0000000-0000-4000-8000-000000000002", email: "bob@example.com", name: "Bob" },
  carol: { id: "b0000000-0000-4000-8000-000000000003", email: "carol@example.com", name: "Carol" },
} as const;
