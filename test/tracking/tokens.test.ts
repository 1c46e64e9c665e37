import { describe, expect, it } from "vitest";
import { signExpiringToken, signToken, verifyExpiringToken, verifyToken } from "../../src/tracking/tokens";

const SECRET = "test-secret-0123456789abcdef";

describe("signed tokens", () => {
  it("round-trip their fields and refuse another kind or another secret", async () => {
    const token = await signToken(SECRET, "click", ["msg_1", 3]);
    expect(await verifyToken(SECRET, "click", token)).toEqual(["msg_1", "3"]);
    expect(await verifyToken(SECRET, "open", token)).toBeNull();
    expect(await verifyToken("another-secret-0123456789", "click", token)).toBeNull();
  });

  it("reject every single-character change and every truncation", async () => {
    const token = await signToken(SECRET, "unsubscribe", ["c_abc", "msg_9"]);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    for (let i = 0; i < token.length; i++) {
      for (const ch of [alphabet[(alphabet.indexOf(token[i]!) + 1) % alphabet.length]!, "~"]) {
        const changed = token.slice(0, i) + ch + token.slice(i + 1);
        expect(await verifyToken(SECRET, "unsubscribe", changed), changed).toBeNull();
      }
    }
    for (let n = 0; n < token.length; n++) expect(await verifyToken(SECRET, "unsubscribe", token.slice(0, n))).toBeNull();
  });

  it("expire: an old identity token is refused", async () => {
    const now = Date.now();
    const token = await signExpiringToken(SECRET, "identity", ["c_1"], now + 1000);
    expect(await verifyExpiringToken(SECRET, "identity", token, now)).toEqual(["c_1"]);
    expect(await verifyExpiringToken(SECRET, "identity", token, now + 1001)).toBeNull();
  });
});
