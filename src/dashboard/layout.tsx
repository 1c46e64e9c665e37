/** The dashboard's page frame: navigation, styles (inline, no CDN) and the logout form. */
import type { Child } from "hono/jsx";

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#0f172a;background:#f1f5f9}
header{display:flex;align-items:center;gap:18px;padding:10px 24px;background:#0f172a;color:#e2e8f0}
header a{color:#cbd5e1;text-decoration:none}header a:hover,header a[aria-current]{color:#fff}
header strong{color:#fff;font-size:16px;margin-right:12px}header form{margin-left:auto}
main{max-width:1120px;margin:0 auto;padding:20px 24px 48px}h1{font-size:22px;margin:4px 0 16px}h2{font-size:16px;margin:28px 0 10px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px #0001}.card b{display:block;font-size:22px}.card span{color:#64748b;font-size:12px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:10px;overflow:hidden;box-shadow:0 1px 2px #0001}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e2e8f0;vertical-align:top}th{background:#f8fafc;font-weight:600;color:#475569;font-size:12px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{background:#fff;border-radius:10px;padding:10px 12px;margin:12px 0;box-shadow:0 1px 2px #0001}.chart svg{width:100%;height:auto}
.chart.diagram svg{width:auto;max-width:100%}.chart.funnel svg{max-width:760px}.pair{display:grid;grid-template-columns:minmax(0,auto) minmax(0,1fr);gap:12px;align-items:start}.pair .chart{margin:12px 0}figcaption{font-weight:600;margin-bottom:4px}
.legend{font-weight:400;color:#475569;margin-left:14px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.grid{stroke:#e2e8f0}.axis{fill:#64748b;font-size:11px}.label{fill:#0f172a;font-size:13px}.edge{stroke:#64748b;stroke-width:1.5}
.step rect{fill:#f8fafc;stroke:#94a3b8}.step-email rect{fill:#eff6ff;stroke:#3b82f6}.step-removed rect{stroke-dasharray:4 3}
.step-title{font-size:13px;font-weight:600;fill:#0f172a}.step-numbers{font-size:12px;fill:#334155}
.badge{display:inline-block;padding:1px 8px;border-radius:999px;font-size:12px;background:#e2e8f0}.badge.active{background:#dcfce7;color:#166534}.badge.paused{background:#fef9c3;color:#854d0e}
button,input[type=submit]{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #94a3b8;background:#fff;cursor:pointer}
button.primary{background:#2563eb;color:#fff;border-color:#2563eb}input[type=search],input[type=password],input[type=date]{font:inherit;padding:5px 8px;border:1px solid #94a3b8;border-radius:6px}
form.inline{display:inline}.muted{color:#64748b}.error{color:#b91c1c}.login{max-width:360px;margin:12vh auto;background:#fff;padding:24px;border-radius:12px;box-shadow:0 2px 8px #0002}
.login input{width:100%;margin:8px 0 12px}.range{display:flex;gap:8px;align-items:center;margin-bottom:12px}
.split{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;align-items:start}.editor label{display:block;margin-bottom:8px;font-weight:600}
.editor input[type=text],.editor textarea{display:block;width:100%;font:12px/1.4 ui-monospace,Menlo,monospace;padding:6px;border:1px solid #94a3b8;border-radius:6px;margin-top:2px}
iframe.mail{display:block;width:100%;height:520px;border:1px solid #cbd5e1;background:#fff;border-radius:8px;margin-top:10px}pre.mail-text{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;padding:10px;border-radius:8px}
pre.code{white-space:pre-wrap;overflow-wrap:anywhere;background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:8px;font:12px/1.5 ui-monospace,Menlo,monospace}
td,th,code,p,li{overflow-wrap:anywhere}
.compose fieldset{border:1px solid #cbd5e1;border-radius:8px;margin:12px 0;padding:8px 12px}.compose legend{font-weight:600}
.compose select,.compose input[type=number],.compose input[type=time],.compose input[type=datetime-local],.compose input[type=email]{display:block;font:inherit;padding:4px 6px;border:1px solid #94a3b8;border-radius:6px;margin-top:2px}
.compose label.choice{font-weight:400}.compose small{display:block;font-weight:400}.compose .error{display:block;font-weight:400}
.notice{background:#dcfce7;color:#166534;padding:6px 10px;border-radius:6px}.badge.sending,.badge.scheduled{background:#dbeafe;color:#1e40af}.badge.sent{background:#dcfce7;color:#166534}
`;

const NAV = [
  ["/admin", "Overview"],
  ["/admin/flows", "Flows"],
  ["/admin/broadcasts", "Broadcasts"],
  ["/admin/library", "Library"],
  ["/admin/contacts", "Contacts"],
  ["/admin/segments", "Segments"],
  ["/admin/templates", "Templates"],
  ["/admin/mailbox", "Mailbox"],
  ["/admin/suppressions", "Suppressions"],
  ["/admin/setup", "Set up your site"],
  ["/admin/connect", "Connect"],
] as const;

/** A bare page (the login form). */
export function Bare(props: { title: string; refreshSeconds?: number; csrf?: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.refreshSeconds ? <meta http-equiv="refresh" content={String(props.refreshSeconds)} /> : null}
        {/* The islands' admin API calls send it as X-CSRF-Token (client/api.ts). */}
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{`${props.title} · Nurture`}</title>
        <style>{STYLE}</style>
      </head>
      <body>{props.children}</body>
    </html>
  );
}

/** A dashboard page with navigation; `section` marks the current entry. */
export function Layout(props: { title: string; section: string; csrf: string; refreshSeconds?: number; children: Child }) {
  return (
    <Bare title={props.title} refreshSeconds={props.refreshSeconds} csrf={props.csrf}>
      <header>
        <strong>Nurture</strong>
        <nav>
          {NAV.map(([href, label]) => (
            <>
              <a href={href} aria-current={props.section === href ? "page" : undefined}>
                {label}
              </a>{" "}
            </>
          ))}
        </nav>
        <form method="post" action="/admin/logout">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <button type="submit">Log out</button>
        </form>
      </header>
      <main>{props.children}</main>
    </Bare>
  );
}
