import { SLUG_PATTERN } from "../../../../db/schema/tenants";
import { err, ok, type Result } from "../../../common/result";
import { unreadableVar } from "../../../common/vars";

/** What the request names: a slug (header, query or subdomain) or a custom domain. */
export type LookupKey = { kind: "slug"; value: string } | { kind: "host"; value: string };

export type HostError = "tenant_required" | "invalid_tenant";

/** The schema's own slug rule (a DNS label), so the edge refuses exactly what the database would. */
const DNS_LABEL = new RegExp(SLUG_PATTERN);
/** Dot-separated labels, none empty: `acme..localhost` or `.acme.test` is no host a client resolved. */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9-]+(?:\.[a-z0-9-]+)*$/;

export const DEFAULT_RESERVED = ["api", "www", "admin", "app", "static"];

let reservedFor: { list: string | undefined; names: Set<string> } | undefined;

/** The reserved labels, parsed once per isolate (the var does not change within one). */
export function parseReserved(list: string | undefined): Set<string> {
  if (reservedFor && reservedFor.list === list) return reservedFor.names;
  const names = (list ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  reservedFor = { list, names: new Set(names.length > 0 ? names : DEFAULT_RESERVED) };
  return reservedFor.names;
}

let platformFor: { value: string; host: string } | undefined;

/**
 * PLATFORM_DOMAIN as the host it names, read once per isolate. Written as a URL
 * (`https://communities.example.com/`), with a port or with a leading dot, it matched no request's
 * host, and every subdomain request was a 400 `tenant_required`: it is read as its host, and
 * said.
 */
export function parsePlatform(value: string): string {
  if (platformFor?.value === value) return platformFor.host;
  const plain = value.trim().toLowerCase();
  const host = plain
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, "")
    .replace(/[/?#].*$/, "")
    .replace(/:\d*$/, "")
    .replace(/^\.+|\.+$/g, "");
  if (host !== plain) unreadableVar("PLATFORM_DOMAIN", value, host);
  platformFor = { value, host };
  return host;
}

function slugKey(raw: string, reserved: Set<string>): Result<LookupKey, HostError> {
  const slug = raw.trim().toLowerCase();
  if (slug === "" || reserved.has(slug)) return err("tenant_required");
  if (!DNS_LABEL.test(slug)) return err("invalid_tenant");
  return ok({ kind: "slug", value: slug });
}

/**
 * The tenant a request names, in order: X-Tenant header or ?tenant=, then the Host: a
 * subdomain of PLATFORM_DOMAIN gives its first label, any other host is a custom domain.
 * Pure and synchronous: a malformed slug is refused before any cache or database work.
 * `platform` as parsePlatform reads it (lower case, a bare host).
 */
export function lookupKey(
  request: { named: string | null | undefined; host: string },
  platform: string,
  reserved: Set<string>,
): Result<LookupKey, HostError> {
  if (request.named !== null && request.named !== undefined) return slugKey(request.named, reserved);

  const host = request.host.toLowerCase().replace(/:\d+$/, "").replace(/\.$/, "");
  if (host === "" || host === platform || !HOSTNAME.test(host)) return err("tenant_required");
  if (host.endsWith(`.${platform}`)) {
    const label = host.slice(0, -(platform.length + 1)).split(".")[0] ?? "";
    return slugKey(label, reserved);
  }
  // A bare IP or single-label host names no tenant.
  if (!host.includes(".") || /^[\d.]+$/.test(host)) return err("tenant_required");
  return ok({ kind: "host", value: host });
}

export function cacheKey(key: LookupKey): string {
  return `tenant:v1:${key.kind}:${key.value}`;
}
