import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/env";
import { readClickToken, readIdentityToken, signClickToken, trackedDestination } from "../../src/tracking/links";
import { signExpiringToken, signToken } from "../../src/tracking/tokens";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf, fireAlarm, sleep, track } from "../helpers/flows";
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
    expect(await readIdentityToken(env.SIGNING_SECRET!, location.searchParams.get("_nt")!, Date.now())).toEqual({
      contactId: contact,
      messageId,
    });
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

describe("_nt goes only to the shop's own site, and names the message it came from", () => {
  const secret = env.SIGNING_SECRET!;

  it("_nt is added only to links to the shop's own hosts", async () => {
    const { messageId, contact } = await sentEmail();
    const linked = { id: messageId, contactId: contact, flowId: "news", stepId: "mail" };
    const landing = async (url: string) => {
      const res = await visit(`/c/${await signClickToken(secret, linked, 0, url)}`);
      expect(res.status, url).toBe(302);
      return new URL(res.headers.get("location")!);
    };
    expect((await landing("https://shop.test/sale")).searchParams.get("_nt")).toBeTruthy();
    for (const elsewhere of [
      "https://partner.example/offer",
      "https://shop.test.evil.example/x",
      "https://www.shop.test/x",
      "https://shop.test:8443/x",
      "https://evil.example/?next=https://shop.test/",
    ]) {
      const location = await landing(elsewhere);
      expect(location.searchParams.get("_nt"), elsewhere).toBeNull();
      expect(location.searchParams.get("utm_source"), elsewhere).toBe("nurture"); // UTM tags as before
    }

    // ALLOWED_ORIGINS' hosts are the shop's too; an entry that is not a URL names none.
    const config = { ...readConfig(env), ALLOWED_ORIGINS: ["https://blog.shop.test", "not a url"] };
    const target = (url: string) => ({ messageId, index: 0, contactId: contact, flowId: null, stepId: null, url });
    const now = Date.now();
    expect(new URL((await trackedDestination(target("https://blog.shop.test/post"), config, now))!).searchParams.has("_nt")).toBe(true);
    expect(new URL((await trackedDestination(target("https://shop.test/"), config, now))!).searchParams.has("_nt")).toBe(true);
    expect(new URL((await trackedDestination(target("https://blog.example/"), config, now))!).searchParams.has("_nt")).toBe(false);
    // A link without a contact (a test send to an address) carries no identity anywhere.
    const anonymous = { ...target("https://shop.test/"), contactId: null };
    expect(new URL((await trackedDestination(anonymous, config, now))!).searchParams.has("_nt")).toBe(false);
  });

  it("an identity token names the message it came from", async () => {
    const { messageId, contact, clicks } = await sentEmail();
    const nt = new URL((await visit(`/c/${clicks[1]}`)).headers.get("location")!).searchParams.get("_nt")!;
    const now = Date.now();
    expect(await readIdentityToken(secret, nt, now)).toEqual({ contactId: contact, messageId });
    expect(await readIdentityToken(secret, nt, now + 31 * 86_400_000)).toBeNull(); // valid for 30 days, as before
    expect(await readIdentityToken(secret, `${nt.slice(0, -1)}${nt.endsWith("A") ? "B" : "A"}`, now)).toBeNull();
    // The identity of the old shape named only the contact: it cannot be replayed as a message's.
    expect(await readIdentityToken(secret, await signExpiringToken(secret, "identity", [contact], now + 60_000), now)).toBeNull();
    expect(
      await readIdentityToken(secret, await signExpiringToken(secret, "unsubscribe", [contact, messageId], now + 60_000), now),
    ).toBeNull();
  });
});

describe("links that contact data carries are text, never tracked links", () => {
  it("a first name holding a link renders as text and no /c/ token of the email leads to evil.example", async () => {
    const hostile = '<a href="https://evil.example/win">win</a>';
    await env.DB.prepare(
      "INSERT OR REPLACE INTO templates (id, subject, html, created_at, updated_at) VALUES ('hi', 'Hi {{ contact.first_name }}', ?, 0, 0)",
    )
      .bind('<body><p>Hi {{ contact.first_name }}</p><a href="https://shop.test/new">New</a></body>')
      .run();
    await activeFlow({
      id: "hostile",
      name: "Hostile",
      trigger: { event: "signed_up" },
      steps: [{ id: "hi", type: "email", template: "hi" }],
    });
    const contact = await contactId("mallory@example.com");
    // Stored as the snippet's identify or an API import could store it.
    await env.DB.prepare("UPDATE contacts SET first_name = ? WHERE id = ?").bind(hostile, contact).run();
    await track({ contact_id: contact, name: "signed_up" });
    const sent = await env.DB.prepare("SELECT id, subject, html FROM messages WHERE contact_id = ?")
      .bind(contact)
      .first<{ id: string; subject: string; html: string }>();
    expect(sent?.html).toContain("<p>Hi &lt;a href=&#34;https://evil.example/win&#34;&gt;win&lt;/a&gt;</p>");
    expect(sent?.subject).toBe(`Hi ${hostile}`); // a subject is text: nothing to escape there
    const tokens = [...sent!.html.matchAll(/href="https:\/\/nurture\.test\/c\/([^"]+)"/g)].map((m) => m[1]!);
    expect(tokens).toHaveLength(1);
    for (const token of tokens) {
      expect((await readClickToken(env.SIGNING_SECRET!, token))?.url).toBe("https://shop.test/new");
      expect(new URL((await visit(`/c/${token}`)).headers.get("location")!).host).toBe("shop.test");
    }
    const links = await env.DB.prepare("SELECT url FROM links WHERE message_id = ?").bind(sent!.id).all<{ url: string }>();
    expect(links.results.map((l) => l.url)).toEqual(["https://shop.test/new"]);
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
