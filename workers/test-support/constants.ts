/** Shared by vitest.config.ts (bindings) and the token helpers of the tests. */
export const TEST_JWT_SECRET = "test-secret-of-at-least-32-characters!!";
