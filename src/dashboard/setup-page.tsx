/**
 * "Set up your site": the snippet tag with this Worker's URL and site key, the
 * origins allowed to use it, the events it sent lately (the page refreshes
 * itself, so the owner watches their test page arrive) and how to send events
 * from the shop's server.
 */
import type { recentSnippetEvents } from "../db/admin-views";
import type { Config } from "../env";
import { LOCAL_ORIGINS } from "../tracking/origins";
import { formatTime } from "./format";
import { Layout } from "./layout";

/** Seconds between the page's own reloads while the owner waits for events. */
const REFRESH_SECONDS = 10;

/** The setup page; `events` are the snippet's latest, newest first. */
export function SetupPage(props: { config: Config; events: Awaited<ReturnType<typeof recentSnippetEvents>>; csrf: string }) {
  const { PUBLIC_URL: url, SITE_KEY: siteKey, ALLOWED_ORIGINS: origins } = props.config;
  const tag = `<script src="${url}/s.js" data-site-key="${siteKey ?? "SITE_KEY"}"></script>`;
  const usage = `<script>
  // optional, after the tag: who the visitor is, and what they do
  nurture.identify("ada@example.com", { first_name: "Ada" });
  nurture.track("added_to_cart", { product_id: "TEA-1", value: 12.5, currency: "EUR" });
</script>`;
  const serverEvent = `curl -X POST ${url}/v1/events \\
  -H "Authorization: Bearer $ADMIN_API_KEY" -H 'content-type: application/json' \\
  -d '{"id":"order-1001","email":"ada@example.com","name":"order_placed","value":42.5,"properties":{"currency":"EUR"}}'`;
  const exact = origins.filter((o) => o !== LOCAL_ORIGINS);
  return (
    <Layout title="Set up your site" section="/admin/setup" csrf={props.csrf} refreshSeconds={REFRESH_SECONDS}>
      <h1>Set up your site</h1>
      <h2>1. Paste this tag on every page of your shop</h2>
      {siteKey ? (
        <pre class="code" id="snippet-tag">
          {tag}
        </pre>
      ) : (
        <p class="error" id="no-site-key">
          No site key is set, so the snippet cannot send anything. Set <code>SITE_KEY</code> (any public string such as{" "}
          <code>site_myshop</code>) in <code>wrangler.toml</code> under <code>[vars]</code>, or in <code>.dev.vars</code> locally.
        </p>
      )}
      <p>It records a page view on load. To name the visitor and record what they do, add after it:</p>
      <pre class="code">{usage}</pre>
      <h2>2. Allow your shop's address</h2>
      <p>The snippet's events are accepted only from these origins (ALLOWED_ORIGINS in wrangler.toml):</p>
      <ul id="allowed-origins">
        {exact.map((o) => (
          <li>
            <code>{o}</code>
          </li>
        ))}
        {origins.includes(LOCAL_ORIGINS) && <li>any page on this machine: localhost, 127.0.0.1 or [::1], on any port (local only)</li>}
      </ul>
      {origins.length === 0 && (
        <p class="error">
          No origin is allowed yet: every snippet event is refused until ALLOWED_ORIGINS names your shop, e.g. https://shop.example.
        </p>
      )}
      <h2>3. Check that it works</h2>
      <p class="muted">
        Open a page with the tag; its events appear here within seconds (this page reloads every {REFRESH_SECONDS} seconds;{" "}
        <a href="/admin/setup">check now</a>).
      </p>
      {props.events.length === 0 ? (
        <p id="snippet-events-empty">No event from the snippet in the last 24 hours yet.</p>
      ) : (
        <table id="snippet-events">
          <thead>
            <tr>
              <th>When</th>
              <th>Event</th>
              <th>Visitor</th>
              <th>Page</th>
            </tr>
          </thead>
          <tbody>
            {props.events.map((e) => (
              <tr data-event={e.name}>
                <td>{formatTime(e.ts)}</td>
                <td>{e.name}</td>
                <td>{e.email ?? <span class="muted">anonymous {e.anonymousId?.slice(0, 8)}</span>}</td>
                <td class="wrap">{typeof e.properties.url === "string" ? e.properties.url : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Events from your shop's server</h2>
      <p>
        Orders, payments and anything the browser does not see come from your backend, with the admin API key. An <code>id</code> makes an
        event idempotent; up to 500 can be sent at once as an array.
      </p>
      <pre class="code">{serverEvent}</pre>
    </Layout>
  );
}
