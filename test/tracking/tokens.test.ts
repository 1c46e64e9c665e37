import { describe, expect, it } from "vitest";
import { readClickToken, signClickToken } from "../../src/tracking/links";
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

  it("carry a click's link, contact, flow and step; a URL with '|' survives; other shapes are refused", async () => {
    const message = { id: "msg_1", contactId: "c_1", flowId: "welcome", stepId: "hello" };
    const url = "https://shop.test/a?x=1|2&y=%7C";
    const token = await signClickToken(SECRET, message, 2, url);
    expect(await readClickToken(SECRET, token)).toEqual({
      messageId: "msg_1",
      index: 2,
      contactId: "c_1",
      flowId: "welcome",
      stepId: "hello",
      url: "https://shop.test/a?x=1%7C2&y=%7C",
    });
    const bare = await signClickToken(SECRET, { id: "msg_2", contactId: null, flowId: null, stepId: null }, 0, "https://shop.test/");
    expect(await readClickToken(SECRET, bare)).toMatchObject({ contactId: null, flowId: null, stepId: null });
    for (const fields of [
      ["msg_1", 3],
      ["msg_1", "x", "c", "f", "s", "https://shop.test/"],
    ]) {
      expect(await readClickToken(SECRET, await signToken(SECRET, "click", fields))).toBeNull();
    }
    expect(await readClickToken(SECRET, await signToken(SECRET, "open", ["msg_1", 0, "c", "f", "s", "https://shop.test/"]))).toBeNull();
  });
});
