/** The dashboard's library page: every ready-made flow with an install button (CSRF-protected form). */
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
          <form method="post" action={`/admin/library/${encodeURIComponent(entry.name)}/install`}>
            <input type="hidden" name="_csrf" value={props.csrf} />
            <button type="submit">Install (paused)</button>
          </form>
        </section>
      ))}
    </Layout>
  );
}
