/**
 * Server side of a client island (src/dashboard/client/islands/<name>.tsx, bundled by
 * scripts/build-client.mjs and served as a static asset): the element the island
 * mounts into, its props as inert JSON, the module script, and the fallback shown
 * until (or unless) JavaScript runs.
 */

import { raw } from "hono/html";
import type { Child } from "hono/jsx";

/** Serialises props for a `<script type="application/json">`: no `<` can end the element early. */
function inertJson(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c");
}

/** Mounts island `name` with `props`; `children` is what the page shows without JavaScript. */
export function Island(props: { name: string; props: object; children?: Child }) {
  return (
    <div data-island={props.name}>
      <script type="application/json">{raw(inertJson(props.props))}</script>
      {props.children}
      <script type="module" src={`/admin/assets/${props.name}.js`} />
    </div>
  );
}
