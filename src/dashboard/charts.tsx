/**
 * Server-rendered SVG charts: a line chart for trends, a bar chart for money,
 * a funnel for a flow, and the diagram of a flow's steps. Pure functions of
 * their data; no script, no external asset.
 */
import type { Child } from "hono/jsx";
import type { StepStats } from "../reports/stats";
import { formatCount, formatMoney, formatRate } from "./format";

/**
 * Axis ticks from 0 to at least `max` in 1-2-5 steps (0, 2, 4, 6, 8 for 7),
 * about five of them; `integers` keeps steps whole (counts), so no two labels
 * ever read the same.
 */
export function axisTicks(max: number, integers = true): number[] {
  const top = max > 0 ? max : 1;
  const rough = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  let step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude;
  if (integers) step = Math.max(1, Math.round(step));
  const count = Math.ceil(top / step - 1e-9);
  // Multiply rather than add, and round, so 0.1-sized steps do not drift (0.30000000000000004).
  return Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

/** An axis label: 1,500 · 20K · 1M. */
const axisLabel = (n: number) => (n >= 10_000 ? compact.format(n) : formatCount(n));

const shortDay = (day: string) => day.slice(5);

type Series = { name: string; color: string; values: number[] };

/** Lines over days, with a legend and four gridlines. */
export function LineChart(props: { title: string; labels: string[]; series: Series[]; id: string }) {
  const width = 720;
  const height = 240;
  const pad = { left: 48, right: 16, top: 16, bottom: 28 };
  const ticks = axisTicks(Math.max(0, ...props.series.flatMap((s) => s.values)));
  const max = ticks.at(-1)!;
  const n = props.labels.length;
  const x = (i: number) => pad.left + (n <= 1 ? 0 : (i * (width - pad.left - pad.right)) / (n - 1));
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const xLabels = n > 0 ? [...new Set([0, Math.floor((n - 1) / 2), n - 1])] : [];
  return (
    <figure class="chart" id={props.id}>
      <figcaption>
        {props.title}
        {props.series.map((s) => (
          <span class="legend">
            <i style={`background:${s.color}`} />
            {s.name}
          </span>
        ))}
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.title}>
        {ticks.map((t) => (
          <g>
            <line x1={pad.left} x2={width - pad.right} y1={y(t)} y2={y(t)} class="grid" />
            <text x={pad.left - 6} y={y(t) + 4} text-anchor="end" class="axis">
              {axisLabel(t)}
            </text>
          </g>
        ))}
        {xLabels.map((i) => (
          <text x={x(i)} y={height - 8} text-anchor="middle" class="axis">
            {shortDay(props.labels[i] ?? "")}
          </text>
        ))}
        {props.series.map((s) => (
          <polyline
            fill="none"
            stroke={s.color}
            stroke-width="2.5"
            stroke-linejoin="round"
            points={s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}
          >
            <title>{s.name}</title>
          </polyline>
        ))}
      </svg>
    </figure>
  );
}

/** Bars over days (e.g. revenue), each with its value as a tooltip. */
export function BarChart(props: { title: string; labels: string[]; values: number[]; color: string; id: string; currency?: string }) {
  const width = 720;
  const height = 200;
  const pad = { left: 56, right: 16, top: 16, bottom: 28 };
  const ticks = axisTicks(Math.max(0, ...props.values), !props.currency);
  const max = ticks.at(-1)!;
  const n = Math.max(1, props.values.length);
  const slot = (width - pad.left - pad.right) / n;
  const y = (v: number) => pad.top + (height - pad.top - pad.bottom) * (1 - v / max);
  const show = (v: number) => (props.currency ? formatMoney(v, props.currency) : formatCount(v));
  return (
    <figure class="chart" id={props.id}>
      <figcaption>{props.title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={props.title}>
        {ticks.map((t) => (
          <g>
            <line x1={pad.left} x2={width - pad.right} y1={y(t)} y2={y(t)} class="grid" />
            <text x={pad.left - 6} y={y(t) + 4} text-anchor="end" class="axis">
              {props.currency ? formatMoney(t, props.currency) : axisLabel(t)}
            </text>
          </g>
        ))}
        {props.values.map((v, i) => (
          <rect x={pad.left + i * slot + slot * 0.15} y={y(v)} width={slot * 0.7} height={Math.max(0, y(0) - y(v))} fill={props.color}>
            <title>{`${props.labels[i]}: ${show(v)}`}</title>
          </rect>
        ))}
        {props.labels.length > 0 && (
          <>
            <text x={pad.left + slot / 2} y={height - 8} text-anchor="middle" class="axis">
              {shortDay(props.labels[0]!)}
            </text>
            <text x={pad.left + (n - 0.5) * slot} y={height - 8} text-anchor="middle" class="axis">
              {shortDay(props.labels.at(-1)!)}
            </text>
          </>
        )}
      </svg>
    </figure>
  );
}

/** A funnel: each stage a centred bar sized against the first, with its share of the stage before. */
export function Funnel(props: { stages: { label: string; value: number }[]; id: string }) {
  const width = 240;
  const row = 40;
  const height = props.stages.length * row + 8;
  const first = Math.max(1, props.stages[0]?.value ?? 0, ...props.stages.map((s) => s.value));
  return (
    <figure class="chart funnel" id={props.id}>
      <figcaption>Funnel</figcaption>
      <svg viewBox={`0 0 ${width + 170} ${height}`} role="img" aria-label="Funnel">
        {props.stages.map((s, i) => {
          const w = Math.max(2, (s.value / first) * width);
          const previous = i > 0 ? props.stages[i - 1]!.value : null;
          return (
            <g data-stage={s.label}>
              <rect
                x={(width - w) / 2}
                y={i * row + 4}
                width={w}
                height={row - 8}
                rx="4"
                fill={`hsl(${215 - i * 18} 70% ${52 + i * 5}%)`}
              />
              <text x={width + 12} y={i * row + row / 2 + 4} class="label">
                {`${s.label}: ${formatCount(s.value)}${previous ? ` (${formatRate(s.value / previous)})` : ""}`}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

/** A diagram box as a link when it has somewhere to go. */
function StepLink(props: { href: string | undefined; children: Child }) {
  return props.href ? <a href={props.href}>{props.children}</a> : props.children;
}

/** The edge from a step to the one drawn below it, if it has one. */
const downward = (step: StepStats, below: StepStats | undefined) => (below ? step.next.find((e) => e.step === below.id) : undefined);

/**
 * The flow drawn as its steps, top to bottom, each box with its numbers; jumps (`next`, `then`, `else`) curve on the
 * right. With `stepHref`, each box links to that step's page; `running` adds how many contacts are on each step now.
 */
export function FlowDiagram(props: {
  steps: StepStats[];
  currency: string;
  stepHref?: (stepId: string) => string;
  running?: ReadonlyMap<string, number>;
}) {
  const boxW = 340;
  const boxH = 62;
  const gap = 34;
  const left = 20;
  const index = new Map(props.steps.map((s, i) => [s.id, i]));
  const top = (i: number) => 10 + i * (boxH + gap);
  const jumps: { from: number; to: number; label: string }[] = [];
  props.steps.forEach((s, i) => {
    for (const edge of s.next) {
      const j = index.get(edge.step);
      if (j === undefined || j === i + 1) continue;
      jumps.push({ from: i, to: j, label: edge.label ?? "next" });
    }
  });
  const width = left + boxW + 60 + jumps.length * 18 + 60;
  const height = top(props.steps.length) + 10;
  return (
    <figure class="chart diagram">
      <figcaption>Steps</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width={width} role="img" aria-label="Flow diagram">
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
          </marker>
        </defs>
        {props.steps.map((s, i) => (
          <g class={`step step-${s.type}`} data-step={s.id}>
            <StepLink href={s.type === "removed" ? undefined : props.stepHref?.(s.id)}>
              <rect x={left} y={top(i)} width={boxW} height={boxH} rx="8" />
              <text x={left + 12} y={top(i) + 22} class="step-title">
                {`${s.name ?? s.id} · ${s.type}${s.templates.length > 1 ? ` · ${s.templates.length} variants` : ""}${props.running?.get(s.id) ? ` · ${formatCount(props.running.get(s.id)!)} here` : ""}`}
              </text>
              <text x={left + 12} y={top(i) + 45} class="step-numbers">
                {s.type === "email"
                  ? `sent ${formatCount(s.sent)} · open ${formatRate(s.rates.open_rate)} · click ${formatRate(s.rates.click_rate)} · ${formatMoney(s.revenue, props.currency)}`
                  : (s.summary ?? " ")}
              </text>
            </StepLink>
            {downward(s, props.steps[i + 1]) && (
              <>
                <line
                  x1={left + boxW / 2}
                  x2={left + boxW / 2}
                  y1={top(i) + boxH}
                  y2={top(i + 1) - 2}
                  class="edge"
                  marker-end="url(#arrow)"
                />
                {downward(s, props.steps[i + 1])?.label && (
                  <text x={left + boxW / 2 + 8} y={top(i) + boxH + gap / 2 + 4} class="axis">
                    {downward(s, props.steps[i + 1])?.label}
                  </text>
                )}
              </>
            )}
          </g>
        ))}
        {jumps.map((j, k) => {
          const x0 = left + boxW;
          const bend = x0 + 30 + k * 18;
          const y0 = top(j.from) + boxH / 2;
          const y1 = top(j.to) + boxH / 2;
          return (
            <g>
              <path d={`M ${x0} ${y0} C ${bend} ${y0}, ${bend} ${y1}, ${x0 + 2} ${y1}`} class="edge" fill="none" marker-end="url(#arrow)" />
              <text x={bend - 8} y={(y0 + y1) / 2} class="axis">
                {j.label}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
