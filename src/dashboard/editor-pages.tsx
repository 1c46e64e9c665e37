/**
 * The dashboard's editor pages: the flow canvas and the segment editor (client islands,
 * src/dashboard/client/islands/), and the segments list. Without JavaScript an editor
 * page shows what it would edit, read-only, and says the editor needs JavaScript.
 */
import { raw } from "hono/html";
import type { SegmentRow } from "../db/segments";
import type { Flow } from "../flows/schema";
import { Island } from "./island";
import { Layout } from "./layout";

/** Styles of the editors (the canvas, side panel and condition builder); inline like the rest of the dashboard. */
const EDITOR_STYLE = `
main:has(.flow-editor),main:has([data-island=flow-editor]){max-width:none}
.toolbar{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin-bottom:10px}.toolbar .ok{color:#166534}
.field{display:block;margin:6px 0}.field>span{display:block;font-size:12px;color:#475569;font-weight:600}.field.inline{display:inline-block;margin:0}
.field input,.field select,.field textarea,.cond-row input,.cond-row select,.cond-bar select{font:inherit;padding:4px 6px;border:1px solid #94a3b8;border-radius:6px;background:#fff}
.field textarea{width:100%;font:12px/1.4 ui-monospace,Menlo,monospace}.narrow{width:70px}
.workspace{display:grid;grid-template-columns:minmax(0,1fr) 400px;gap:16px;align-items:start}
.canvas{position:relative;background:#fff;border-radius:10px;box-shadow:0 1px 2px #0001;min-width:100%;min-height:200px;overflow:visible}
.canvas svg{position:absolute;left:0;top:0}.edge-label{font-size:11px;fill:#475569}
.node{position:absolute;width:220px;height:64px;display:flex;flex-direction:column;align-items:flex-start;justify-content:center;gap:1px;padding:6px 10px;text-align:left;border:1.5px solid #94a3b8;border-radius:10px;background:#f8fafc;overflow:hidden}
.node b{font-size:12px;color:#334155}.node span,.node small{line-height:1.35}.node span{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:100%}.node small{color:#64748b;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:100%}
.node.trigger{background:#f0fdf4;border-color:#16a34a}.node.step-email{background:#eff6ff;border-color:#3b82f6}.node.step-wait,.node.step-wait_for{background:#fefce8;border-color:#ca8a04}
.node.step-branch,.node.step-split{background:#faf5ff;border-color:#9333ea}.node.step-exit{background:#f1f5f9}.node.end{height:36px;align-items:center;color:#64748b;border-style:dashed}
.node.selected{box-shadow:0 0 0 3px #93c5fd}.node.invalid{border-color:#dc2626;background:#fef2f2}.node-problem{font-style:normal;font-size:11px;color:#b91c1c;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;max-width:100%}
.add-step{position:absolute;width:24px;height:24px;padding:0;border-radius:50%;line-height:20px;text-align:center;font-weight:700;background:#fff;color:#2563eb;border:1.5px solid #2563eb;z-index:2}
.step-menu{position:absolute;z-index:3;display:flex;flex-direction:column;gap:2px;background:#fff;border:1px solid #cbd5e1;border-radius:8px;padding:6px;box-shadow:0 4px 12px #0002}.step-menu button{text-align:left;border:0}
.flow-editor h1 a{font-size:14px;font-weight:400;margin-left:6px}
.panel select,.panel input:not([type=checkbox]){max-width:100%}.template-picker select,.panel .field>input:not([type=checkbox]):not([type=number]){width:100%;box-sizing:border-box}
.panel{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px #0001;position:sticky;top:10px;max-height:calc(100vh - 20px);overflow:auto}.panel h2{margin-top:0}
fieldset{border:1px solid #e2e8f0;border-radius:8px;margin:8px 0;padding:6px 10px}legend{font-size:12px;font-weight:600;color:#475569}
.field-row{position:relative;padding-right:22px}.field-row>.remove{position:absolute;right:0;top:0}.remove{border:0;color:#64748b;padding:0 6px}.danger{color:#b91c1c;border-color:#b91c1c;margin-top:10px}
.add-fields,.cond-add,.cond-actions{display:flex;flex-wrap:wrap;gap:4px;margin:4px 0}.add-fields button,.cond-add button,.cond-actions button{font-size:12px;padding:2px 8px}
.list-item{display:flex;gap:6px;align-items:flex-start;flex-wrap:wrap}.check{display:inline-flex;gap:4px;align-items:center;margin-right:8px}
.problems{margin:2px 0;padding-left:18px;color:#b91c1c;font-size:12px}.notice{padding:6px 10px;background:#eff6ff;border-radius:6px}.notice.error{background:#fef2f2}
.condition{margin:6px 0}.cond-group,.cond-not{border-left:3px solid #a855f7;padding:4px 0 4px 8px;margin:4px 0}.cond-any{border-left-color:#0ea5e9}.cond-not{border-left-color:#f97316}
.cond-bar{display:flex;gap:6px;align-items:center}.cond-row-wrap{display:flex;flex-wrap:wrap;align-items:center;gap:6px}.cond-row{display:flex;flex-wrap:wrap;gap:4px;align-items:center;margin:4px 0}.cond-row input{width:120px}.cond-where{width:100%;padding-left:12px}
.template-preview iframe{width:100%;height:180px;border:1px solid #cbd5e1;border-radius:6px;background:#fff}
.impact-confirm{border:1.5px solid #f59e0b;background:#fffbeb;border-radius:8px;padding:8px 12px;margin-bottom:10px}.impact-confirm p{margin:4px 0}
.dialog{position:fixed;z-index:10;left:50%;top:12vh;transform:translateX(-50%);width:min(520px,92vw);background:#fff;border-radius:12px;padding:16px;box-shadow:0 10px 40px #0004}.dialog .actions{display:flex;gap:8px}
.segment-editor{display:grid;grid-template-columns:minmax(0,1fr) 360px;gap:16px;align-items:start}.count{font-size:28px;font-weight:700}
`;

function EditorFrame(props: { title: string; section: string; csrf: string; children: unknown }) {
  return (
    <Layout title={props.title} section={props.section} csrf={props.csrf}>
      {/* raw: the text escaping of JSX would turn the child combinators ('>') into entities. */}
      <style>{raw(EDITOR_STYLE)}</style>
      {props.children as never}
    </Layout>
  );
}

/** A template as the editor's picker lists it. */
export interface TemplateChoice {
  id: string;
  subject: string;
}

/** The flow canvas for a new flow (no `flow`) or a stored one. */
export function FlowEditorPage(props: {
  csrf: string;
  flow: { id: string; status: "draft" | "active" | "paused"; version: number; definition: Flow } | null;
  templates: TemplateChoice[];
  schema: Record<string, unknown>;
}) {
  const flow = props.flow;
  const title = flow ? `Edit ${flow.definition.name}` : "New flow";
  return (
    <EditorFrame title={title} section="/admin/flows" csrf={props.csrf}>
      <Island
        name="flow-editor"
        props={{
          flowId: flow?.id ?? null,
          status: flow?.status ?? null,
          version: flow?.version ?? null,
          definition: flow?.definition ?? null,
          templates: props.templates,
          schema: props.schema,
        }}
      >
        {/* The island draws its own heading, which follows the flow's saved name. */}
        <h1>
          {title} {flow ? <a href={`/admin/flows/${encodeURIComponent(flow.id)}`}>back to the flow's numbers</a> : null}
        </h1>
        <p class="error">The flow editor needs JavaScript. Here is the flow's definition, read-only:</p>
        <pre class="code">{flow ? JSON.stringify(flow.definition, null, 2) : "(a new flow has no definition yet)"}</pre>
      </Island>
    </EditorFrame>
  );
}

/** The segment editor for a new segment (no `segment`) or a stored one. */
export function SegmentEditorPage(props: { csrf: string; segment: SegmentRow | null }) {
  const segment = props.segment;
  const title = segment ? `Segment ${segment.name}` : "New segment";
  return (
    <EditorFrame title={title} section="/admin/segments" csrf={props.csrf}>
      <h1>{title}</h1>
      <Island
        name="segment-editor"
        props={{ segmentId: segment?.id ?? null, name: segment?.name ?? "", condition: segment?.condition ?? null }}
      >
        <p class="error">The segment editor needs JavaScript. Here is the segment's condition, read-only:</p>
        <pre class="code">{segment ? JSON.stringify(segment.condition, null, 2) : "(a new segment has no condition yet)"}</pre>
      </Island>
    </EditorFrame>
  );
}
