import { describe, expect, it } from "vitest";
import { isLoopbackOrigin, originAllowed } from "../../src/tracking/origins";

describe("ALLOWED_ORIGINS admits listed origins, and loopback pages only when it says local", () => {
  it("an exact origin is allowed when listed and refused otherwise", () => {
    expect(originAllowed("https://shop.test", ["https://shop.test"])).toBe(true);
    expect(originAllowed("https://evil.test", ["https://shop.test"])).toBe(false);
    expect(originAllowed("http://127.0.0.1:8000", ["https://shop.test"])).toBe(false);
  });

  it("`local` allows localhost, 127.0.0.1 and [::1] on any port", () => {
    for (const origin of ["http://localhost:8000", "http://127.0.0.1:8000", "http://[::1]:3000", "https://localhost", "http://localhost"]) {
      expect(originAllowed(origin, ["local"]), origin).toBe(true);
    }
  });

  it("`local` never allows a remote host that only looks local", () => {
    for (const origin of [
      "http://localhost.evil.test",
      "http://127.0.0.1.evil.test",
      "null",
      "file://",
      "http://localhost:8000/path",
      "ftp://localhost",
    ]) {
      expect(isLoopbackOrigin(origin), origin).toBe(false);
      expect(originAllowed(origin, ["local"]), origin).toBe(false);
    }
  });
});
