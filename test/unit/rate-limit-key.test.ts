import { describe, expect, it } from "vitest";
import { clientNetwork } from "../../workers/common/rate-limit";

describe("the network an address rate limit counts", () => {
  it("is an IPv4 address itself, and an IPv6 address's /64 however it is written", () => {
    expect(clientNetwork("203.0.113.7")).toBe("203.0.113.7");
    for (const ip of [
      "2001:db8:85a3:0042:1000:8a2e:0370:7334",
      "2001:DB8:85A3:42::1",
      "2001:0db8:85a3:0042::8a2e:370:7334",
    ]) {
      expect(clientNetwork(ip)).toBe("2001:db8:85a3:42::/64");
    }
    expect(clientNetwork("::1")).toBe("0:0:0:0::/64");
    expect(clientNetwork("2001:db8::")).toBe("2001:db8:0:0::/64");
    // IPv4 written as IPv6 is that IPv4 address, not the /64 every such address shares.
    expect(clientNetwork("::ffff:192.0.2.1")).toBe("::ffff:192.0.2.1");
  });

  it("keeps what it cannot read as it came, and names a missing address", () => {
    expect(clientNetwork(undefined)).toBe("unknown");
    expect(clientNetwork("not:an:address")).toBe("not:an:address");
    // Too few groups for a /64, or a group that is not hex: either alone is enough.
    expect(clientNetwork("2001:db8")).toBe("2001:db8");
    expect(clientNetwork("2001:db8:zz:1::1")).toBe("2001:db8:zz:1::1");
  });
});
