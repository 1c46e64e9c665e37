/**
 * Starts an island: finds its element (`data-island="<name>"`, rendered by the
 * server's `Island`), reads the props the server put beside it as JSON, and
 * renders the component in place of the no-JavaScript fallback.
 */
import { type ComponentType, h, render } from "preact";

/** Renders `component` into every element of island `name`, with its server-given props. */
export function mountIsland<P extends object>(name: string, component: ComponentType<P>): void {
  for (const element of document.querySelectorAll<HTMLElement>(`[data-island="${name}"]`)) {
    const json = element.querySelector<HTMLScriptElement>('script[type="application/json"]')?.textContent ?? "{}";
    const props = JSON.parse(json) as P;
    element.replaceChildren();
    render(h(component, props), element);
  }
}
