/** The dashboard's library page: every ready-made flow with an install button (CSRF-protected form), and the choice to make when an install meets edited templates. */
import type { LibraryEntry } from "../library/catalog";
import { LIBRARY } from "../library/catalog";
import { Layout } from "./layout";

/** Lists the library; `notice` reports the last install. */
export function LibraryPage(props: { csrf: string; notice?: string }) {
  return (
    <Layout title="Library" section="/admin/library" csrf={props.csrf}>
      <h1>Flow library</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {LIBRARY.map((entry) => (
        <section>
          <h2>{entry.flow.name}</h2>
          <p>{entry.description}</p>
          <InstallForm entry={entry} csrf={props.csrf} onEdited="refuse" label="Install (paused)" />
        </section>
      ))}
    </Layout>
  );
}

function InstallForm(props: {
  entry: LibraryEntry;
  csrf: string;
  onEdited: "refuse" | "keep" | "overwrite";
  label: string;
  primary?: boolean;
}) {
  return (
    <form class="inline" method="post" action={`/admin/library/${encodeURIComponent(props.entry.name)}/install`}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      <input type="hidden" name="on_edited" value={props.onEdited} />
      <button type="submit" class={props.primary ? "primary" : undefined}>
        {props.label}
      </button>
    </form>
  );
}

/** An install that would replace edited templates: keep the edits, or take the library's versions. */
export function LibraryConflictPage(props: { entry: LibraryEntry; edited: string[]; csrf: string }) {
  return (
    <Layout title="Templates edited" section="/admin/library" csrf={props.csrf}>
      <h1>Install "{props.entry.flow.name}": some templates were edited</h1>
      <p>You changed these templates since the library installed them:</p>
      <ul id="edited-templates">
        {props.edited.map((id) => (
          <li>
            <a href={`/admin/templates/${encodeURIComponent(id)}`}>{id}</a>
          </li>
        ))}
      </ul>
      <p>
        <InstallForm entry={props.entry} csrf={props.csrf} onEdited="keep" label="Keep mine" primary />{" "}
        <span class="muted">installs the flow and the other templates, and leaves your edits as they are.</span>
      </p>
      <p>
        <InstallForm entry={props.entry} csrf={props.csrf} onEdited="overwrite" label="Take the library's" />{" "}
        <span class="muted">replaces the templates above with the library's versions.</span>
      </p>
      <p>
        <a href="/admin/library">Back to the library</a> without installing.
      </p>
    </Layout>
  );
}
