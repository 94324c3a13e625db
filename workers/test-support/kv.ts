/** A Workers KV namespace whose every call fails with `message`, as KV does in an outage. */
export function brokenKv(message = "KV down"): KVNamespace {
  const down = async () => {
    throw new Error(message);
  };
  return { get: down, getWithMetadata: down, put: down, delete: down, list: down } as unknown as KVNamespace;
}
