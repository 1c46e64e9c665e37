import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signClickToken } from "../../src/tracking/links";
import { signToken, verifyExpiringToken } from "../../src/tracking/tokens";
import { callJson } from "../helpers/api";
import { enrollmentsOf, fireAlarm, sleep } from "../helpers/flows";
import { BROWSER, eventsNamed, eventually, sentEmail, visit } from "../helpers/tracking";

const message = (id: string) => env.DB.prepare("SELECT * FROM messages WHERE id = ?").bind(id).first<Record<string, any>>();
const contactRow = (id: string) => env.DB.prepare("SELECT * FROM contacts WHERE id = ?").bind(id).first<Record<string, any>>();

describe("the open pixel", () => {
  it("answers a no-store GIF and records a person's open: first open time, last opened, streak reset", async () => {
    const { contact, messageId, open } = await sentEmail();
    const res = await visit(`/o/${open}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/gif");
    expect(res.headers.get("cache-control")).toContain("no-store");
    expect(new TextDecoder().decode((await res.arrayBuffer()).slice(0, 6))).toBe("GIF89a");
    const [opened] = await eventually(
      () => eventsNamed(contact, "email_opened"),
      (e) => e.length === 1,
    );
    expect(opened).toMatchObject({ machine: 0, message_id: messageId });
    expect((await message(messageId))?.opened_at).toBeGreaterThan(0);
    expect(await contactRow(contact)).toMatchObject({ unopened_streak: 0 });
    expect((await contactRow(contact))?.last_opened_at).toBeGreaterThan(0);
  });

  it("records Apple Mail Privacy Protection and bots as machine opens that change nothing else", async () => {
    const { contact, messageId, open } = await sentEmail();
    await visit(`/o/${open}`, { "user-agent": "Mozilla/5.0" });
    await visit(`/o/${open}`, { "user-agent": "Googlebot/2.1 (+http://www.google.com/bot.html)" });
    const opens = await eventually(
      () => eventsNamed(contact, "email_opened"),
      (e) => e.length === 2,
    );
    expect(opens.map((e) => e.machine)).toEqual([1, 1]);
    expect((await message(messageId))?.opened_at).toBeNull();
    expect((await contactRow(contact))?.unopened_streak).toBe(1);
  });

  it("answers the GIF for a forged token and records nothing", async () => {
    const { contact, open } = await sentEmail();
    const res = await visit(`/o/${open.slice(0, -2)}xx`);
    expect(res.status).toBe(200);
    await sleep(200);
    expect(await eventsNamed(contact, "email_opened")).toHaveLength(0);
  });
});

describe("the click redirect", () => {
  it("redirects to the recorded URL with UTM tags (keeping the link's own) and a signed identity for the snippet", async () => {
    const { contact, messageId, clicks } = await sentEmail();
    const res = await visit(`/c/${clicks[0]}`);
    expect(res.status).toBe(302);
    const location = new URL(res.headers.get("location")!);
    expect(`${location.origin}${location.pathname}`).toBe("https://shop.test/sale");
    expect(location.searchParams.get("utm_campaign")).toBe("winter");
    expect(location.searchParams.get("utm_source")).toBe("nurture");
    expect(location.searchParams.get("utm_medium")).toBe("email");
    expect(location.searchParams.get("utm_content")).toBe("mail");
    expect(await verifyExpiringToken(env.SIGNING_SECRET!, "identity", location.searchParams.get("_nt")!, Date.now())).toEqual([contact]);
    const second = new URL((await visit(`/c/${clicks[1]}`)).headers.get("location")!);
    expect(second.searchParams.get("utm_campaign")).toBe("news");
    const [click] = await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (e) => e.length >= 1,
    );
    expect(click?.machine).toBe(0);
    expect(JSON.parse(click!.properties)).toMatchObject({
      url: "https://shop.test/sale?utm_campaign=winter",
      link_index: 0,
      flow_id: "news",
    });
    const row = await message(messageId);
    expect(row?.clicked_at).toBeGreaterThan(0);
    expect(row?.opened_at).toBeGreaterThan(0); // a person's click is also an open
  });

  it("never redirects anywhere but the recorded URL: forged, truncated, unknown and tampered requests get 404", async () => {
    const { clicks, messageId } = await sentEmail();
    for (const path of [
      `/c/${clicks[0]!.slice(0, -1)}`,
      `/c/${clicks[0]!.slice(0, 10)}`,
      `/c/${clicks[0]!.replace(/.$/, (ch) => (ch === "A" ? "B" : "A"))}`,
      `/c/${await signToken(env.SIGNING_SECRET!, "click", [messageId, 0])}`,
      `/c/${await signClickToken(env.SIGNING_SECRET!, { id: messageId, contactId: null, flowId: null, stepId: null }, 0, "javascript:alert(1)")}`,
      "/c/%2F%2Fevil.example",
      "/c/javascript:alert(1)",
      "/c/",
    ]) {
      const res = await visit(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("location")).toBeNull();
    }
    for (const extra of ["?url=https://evil.example", "?next=//evil.example", "/../../evil"]) {
      const res = await visit(`/c/${clicks[0]}${extra}`);
      if (res.status === 302) expect(new URL(res.headers.get("location")!).host).toBe("shop.test");
      else expect(res.status).toBe(404);
    }
  });

  it("records scanners as machine clicks but still redirects them: HEAD, bot agents, every link at once", async () => {
    const { contact, messageId, clicks } = await sentEmail();
    expect((await visit(`/c/${clicks[0]}`, BROWSER, "HEAD")).status).toBe(302);
    expect((await visit(`/c/${clicks[0]}`, { "user-agent": "Mozilla/5.0 (compatible; Bingbot/2.0)" })).status).toBe(302);
    await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (e) => e.length === 2,
    );
    expect((await eventsNamed(contact, "email_clicked")).map((e) => e.machine)).toEqual([1, 1]);
    expect((await message(messageId))?.clicked_at).toBeNull();
  });

  it("counts a click within seconds of sending as a scanner's", async () => {
    const { contact, messageId, clicks } = await sentEmail();
    await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
      .bind(Date.now() - 2000, messageId)
      .run();
    await visit(`/c/${clicks[1]}`);
    const [click] = await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (e) => e.length === 1,
    );
    expect(click?.machine).toBe(1);
    expect(JSON.parse(click!.properties).machine_reason).toBe("clicked within seconds of sending");
  });

  it("a machine click never satisfies a wait_for; a person's does", async () => {
    const { contact, clicks } = await sentEmail([
      { id: "clicked", type: "wait_for", event: "email_clicked", of: "mail", timeout: "1d", then: "thanks", else: "bye" },
      { id: "bye", type: "exit" },
      { id: "thanks", type: "update", add_tags: ["clicked-news"] },
    ]);
    await visit(`/c/${clicks[0]}`, BROWSER, "HEAD");
    await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (e) => e.length === 1,
    );
    await fireAlarm(contact);
    expect(await enrollmentsOf(contact)).toMatchObject([{ status: "active", current_step: "clicked" }]);
    await visit(`/c/${clicks[0]}`);
    await eventually(
      () => enrollmentsOf(contact),
      (e) => e[0]?.status === "completed",
    );
    expect((await contactRow(contact))?.tags).toContain("clicked-news");
  });
});

describe("suppressions API", () => {
  it("lists suppressed addresses page by page and lifts one deliberately", async () => {
    for (const [i, email] of ["a@x.test", "b@x.test", "c@x.test"].entries()) {
      await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES (?, 'hard_bounce', ?)")
        .bind(email, 1000 + i)
        .run();
    }
    const first = await callJson("/v1/suppressions?limit=2");
    expect(first.body.suppressions.map((s: { email: string }) => s.email)).toEqual(["c@x.test", "b@x.test"]);
    expect(first.body.suppressions[0]).toMatchObject({ reason: "hard_bounce", created_at: new Date(1002).toISOString() });
    const rest = await callJson(`/v1/suppressions?limit=2&after=${encodeURIComponent(first.body.next_cursor)}`);
    expect(rest.body.suppressions.map((s: { email: string }) => s.email)).toEqual(["a@x.test"]);
    expect((await callJson("/v1/suppressions/B@X.test", { method: "DELETE" })).status).toBe(204);
    expect((await callJson("/v1/suppressions/b@x.test", { method: "DELETE" })).status).toBe(404);
    expect((await callJson("/v1/suppressions")).body.suppressions).toHaveLength(2);
  });
});
