/** How every dashboard page is answered: its security headers, and the one page for a problem (404, 403, bad input). */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { Bare } from "./layout";

/** Dashboard pages load nothing from elsewhere: inline styles and SVG, this origin's island scripts (no inline script) and API, forms post here, no framing. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Answers a dashboard page with its security headers. */
export function render(c: Context, page: Parameters<Context["html"]>[0], status: ContentfulStatusCode = 200) {
  c.header("Content-Security-Policy", DASHBOARD_CSP);
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
  return c.html(page, status);
}

/** The longest form field the dashboard reads. */
export const MAX_FIELD = 2000;

/** A page saying what went wrong, with the way back. */
export function ProblemPage(props: { title: string; message: string }) {
  return (
    <Bare title={props.title}>
      <main>
        <h1>{props.title}</h1>
        <p>{props.message}</p>
        <p>
          <a href="/admin">Back to the dashboard</a>
        </p>
      </main>
    </Bare>
  );
}
