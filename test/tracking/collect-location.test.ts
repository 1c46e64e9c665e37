/**
 * /v1/collect records where the visitor's browser is (Cloudflare's `request.cf`) on their contact: country, region and
 * city as attributes, and the time zone only when the contact has none.
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";

const BERLIN = { country: "DE", region: "Land Berlin", city: "Berlin", timezone: "Europe/Berlin" };

async function identitySignature(email: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.IDENTITY_SECRET!),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(email.toLowerCase())));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A signed identify from a browser at `cf` (the edge sets request.cf; a Request built with `cf` stands for it). */
async function identifyFrom(cf: Record<string, unknown>, email: string, anonymousId: string) {
  const body = {
    site_key: "site_test",
    anonymous_id: anonymousId,
    type: "identify",
    email,
    identity_signature: await identitySignature(email),
  };
  const request = new Request("https://nurture.test/v1/collect", {
    method: "POST",
    body: JSON.stringify(body),
    headers: { origin: "https://shop.test", "content-type": "text/plain" },
    cf,
  });
  const response = await exports.default.fetch(request);
  expect(response.status).toBe(202);
}

const contactRow = (email: string) =>
  env.DB.prepare("SELECT timezone, attributes FROM contacts WHERE email = ?")
    .bind(email)
    .first<{ timezone: string | null; attributes: string }>();

describe("collect records the visitor's location on the contact", () => {
  it("sets country, region, city and the time zone of a contact who had none", async () => {
    await callJson("/v1/contacts", { method: "PUT", body: { email: "geo-1@example.com", attributes: { plan: "pro" } } });
    await identifyFrom(BERLIN, "geo-1@example.com", "anon-geo-0001");
    const row = await contactRow("geo-1@example.com");
    expect(row?.timezone).toBe("Europe/Berlin");
    expect(JSON.parse(row?.attributes ?? "{}")).toEqual({ plan: "pro", country: "DE", region: "Land Berlin", city: "Berlin" });
  });

  it("never overwrites a time zone the contact or the shop set, and ignores one Intl does not know", async () => {
    await callJson("/v1/contacts", { method: "PUT", body: { email: "geo-2@example.com", timezone: "America/New_York" } });
    await identifyFrom(BERLIN, "geo-2@example.com", "anon-geo-0002");
    expect((await contactRow("geo-2@example.com"))?.timezone).toBe("America/New_York");

    await callJson("/v1/contacts", { method: "PUT", body: { email: "geo-3@example.com" } });
    await identifyFrom({ country: "XX", timezone: "Mars/Olympus" }, "geo-3@example.com", "anon-geo-0003");
    const row = await contactRow("geo-3@example.com");
    expect(row?.timezone).toBeNull();
    expect(JSON.parse(row?.attributes ?? "{}")).toEqual({ country: "XX" });
  });

  it("a segment 'city eq Berlin' finds the visitors located in Berlin", async () => {
    await callJson("/v1/contacts", { method: "PUT", body: { email: "geo-4@example.com" } });
    await callJson("/v1/contacts", { method: "PUT", body: { email: "geo-5@example.com" } });
    await identifyFrom(BERLIN, "geo-4@example.com", "anon-geo-0004");
    await identifyFrom({ ...BERLIN, city: "Munich", region: "Bavaria" }, "geo-5@example.com", "anon-geo-0005");
    await callJson("/v1/segments/in-berlin", {
      method: "PUT",
      body: { name: "Berlin", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    const members = await callJson("/v1/segments/in-berlin/contacts");
    const emails = members.body.contacts.map((c: { email: string }) => c.email);
    expect(emails).toContain("geo-4@example.com");
    expect(emails).not.toContain("geo-5@example.com");
  });
});
