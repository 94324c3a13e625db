/** The JSON lines a console spy caught: workers/common/log.ts writes one object a line. */
export function loggedLines(spy: { mock: { calls: unknown[][] } }): Record<string, unknown>[] {
  return spy.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);
}
