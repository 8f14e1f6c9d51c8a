// obspipe on-call dashboard: plain JavaScript, no build step, no dependencies.
// Every value shown comes from Kafka records, so text is always set with textContent
// (never innerHTML) to keep a crafted record from injecting markup.
"use strict";

const params = new URLSearchParams(location.search);
const TOKEN = params.get("token");
const SVGNS = "http://www.w3.org/2000/svg";
const MAX_PAGE_ROWS = 100;
const MAX_WATERFALL_ROWS = 2000;  // a 10,000-span trace would make the page crawl
const WINDOW_COLOURS = {"5m": "#f87171", "30m": "#fb923c", "1h": "#facc15", "2h": "#a3e635",
                        "6h": "#34d399", "24h": "#38bdf8", "3d": "#a78bfa"};

const S = {pages: [], page_counts: {}, shifts: [], slos: [], traces: {recent: [], slow: [], errors: []},
           dlq: {total: 0, by_reason: {}, recent: []}, health: {}, tab: "recent", traceId: null};

function withToken(url) {
  if (!TOKEN) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

// h("div", {class: "x", onclick: f}, child, "text", ...) -> element
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function fmtDuration(ns) {
  if (ns === null || ns === undefined) return "–";
  const ms = ns / 1e6;
  if (Math.abs(ms) < 1) return (ns / 1e3).toFixed(0) + " µs";
  if (Math.abs(ms) < 1000) return ms.toFixed(ms < 10 ? 2 : 1) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

function fmtTime(value) {
  // Records carry RFC 3339 strings, unix nanoseconds or Kafka milliseconds.
  if (value === null || value === undefined) return "–";
  let d;
  if (typeof value === "number") d = new Date(value > 1e14 ? value / 1e6 : value);
  else d = new Date(value);
  if (isNaN(d.getTime())) return String(value);
  return d.toLocaleTimeString([], {hour12: false});
}

function fmtNum(v, digits = 2) {
  if (v === null || v === undefined) return "–";
  return Number(v).toFixed(digits);
}

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

function shortId(id) { return id ? id.slice(0, 8) + "…" : ""; }

function traceLink(traceId, label, extraClass) {
  return h("a", {href: "#trace=" + traceId, class: "trace-link " + (extraClass || ""),
                 dataset: {traceId}, title: traceId}, label || shortId(traceId));
}

function setEmpty(id, isEmpty) { document.getElementById(id).hidden = !isEmpty; }

// ---------------------------------------------------------------- header counters
function renderCounters() {
  const c = S.page_counts || {};
  const box = document.getElementById("counters");
  const item = (label, value, cls) => h("div", {class: "counter " + (cls || "")},
                                       h("span", {class: "value"}, value), h("span", {class: "label"}, label));
  box.replaceChildren(
    item("paged", c.page || 0, (c.page || 0) > 0 ? "bad" : ""),
    item("tickets", c.ticket || 0),
    item("suppressed", c.suppressed || 0),
    item("open traces", openTraces() ?? "–"),
    item("traces shown", (S.health && S.health.traces_held) || 0),
    item("dead letters", S.dlq.total || 0, S.dlq.total > 0 ? "warn" : ""),
  );
}

function upWorkers() { return ((S.health && S.health.workers) || []).filter(w => w.up); }

function openTraces() {
  const rows = upWorkers().filter(w => w.open_traces !== undefined);
  return rows.length ? rows.reduce((n, w) => n + w.open_traces, 0) : null;
}

// ---------------------------------------------------------------- live pages
function pageRow(p, fresh) {
  const alert = p.alertname ? p.alertname + (p.alert_count > 1 ? " +" + (p.alert_count - 1) : "") : (p.group_key || "–");
  const tip = [p.summary, p.rule ? "rule: " + p.rule : null].filter(Boolean).join("\n");
  return h("tr", {class: (fresh ? "fresh " : "") + "decision-" + p.decision, title: tip},
    h("td", {class: "num"}, fmtTime(p.at || p.ts_ms)),
    h("td", {}, h("span", {class: "badge " + p.decision}, p.decision)),
    h("td", {}, alert, p.status === "resolved" ? h("span", {class: "tag"}, "resolved") : null),
    h("td", {}, p.service || "–"),
    h("td", {class: "reason"}, p.reason),
    h("td", {}, p.oncall || "–"),
    h("td", {class: "muted shift"}, p.shift_id || "–"));
}

function renderPages() {
  const body = document.querySelector("#pages tbody");
  body.replaceChildren(...S.pages.slice(0, MAX_PAGE_ROWS).map(p => pageRow(p, false)));
  setEmpty("pages-empty", S.pages.length === 0);
}

function addPage(p) {
  S.pages.unshift(p);
  if (S.pages.length > MAX_PAGE_ROWS) S.pages.length = MAX_PAGE_ROWS;
  const body = document.querySelector("#pages tbody");
  body.prepend(pageRow(p, true));
  while (body.children.length > MAX_PAGE_ROWS) body.lastChild.remove();
  setEmpty("pages-empty", false);
}

// ---------------------------------------------------------------- shifts chart
function renderShifts() {
  const shifts = S.shifts || [];
  const box = document.getElementById("shifts-chart");
  setEmpty("shifts-empty", shifts.length === 0);
  if (!shifts.length) { box.replaceChildren(); return; }
  const W = 560, H = 220, L = 34, R = 40, T = 12, B = 42;
  const maxPages = Math.max(2, ...shifts.map(s => s.pages));
  const bw = (W - L - R) / shifts.length;
  const y = v => T + (H - T - B) * (1 - v / maxPages);
  const yr = r => T + (H - T - B) * (1 - r);
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "shift-chart", role: "img",
                        "aria-label": `pages per shift for ${shifts.length} shifts`});
  for (const t of [0, Math.ceil(maxPages / 2), maxPages]) {
    g.append(svg("line", {x1: L, x2: W - R, y1: y(t), y2: y(t), class: "grid"}),
             svg("text", {x: L - 6, y: y(t) + 4, class: "axis", "text-anchor": "end"}, t));
  }
  for (const r of [0, 0.5, 1]) g.append(svg("text", {x: W - R + 6, y: yr(r) + 4, class: "axis"}, Math.round(r * 100) + "%"));
  // The target: fewer than 2 pages per shift (DESIGN.md §5).
  g.append(svg("line", {x1: L, x2: W - R, y1: y(2), y2: y(2), class: "target"}));
  const pts = [];
  shifts.forEach((s, i) => {
    const x = L + i * bw;
    const bar = svg("rect", {x: x + bw * 0.15, y: y(s.pages), width: bw * 0.7, height: Math.max(0, y(0) - y(s.pages)),
                             class: "bar" + (s.over_target ? " over" : "")},
                    svg("title", {}, `${s.shift_id} · ${s.oncall || ""}\n${s.pages} pages (${s.night_pages} at night)\n` +
                        `non-actionable: ${s.non_actionable_ratio === null ? "–" : Math.round(s.non_actionable_ratio * 100) + "%"}`));
    g.append(bar);
    if (shifts.length <= 16 || i % Math.ceil(shifts.length / 16) === 0) {
      g.append(svg("text", {x: x + bw / 2, y: H - B + 14, class: "axis", "text-anchor": "middle"}, s.oncall || s.shift_id),
               svg("text", {x: x + bw / 2, y: H - B + 27, class: "axis small", "text-anchor": "middle"}, shortDate(s.start)));
    }
    if (s.non_actionable_ratio !== null) pts.push([x + bw / 2, yr(s.non_actionable_ratio)]);
  });
  if (pts.length) {
    g.append(svg("polyline", {points: pts.map(p => p.join(",")).join(" "), class: "ratio"}));
    for (const [px, py] of pts) g.append(svg("circle", {cx: px, cy: py, r: 3, class: "ratio-dot"}));
  }
  box.replaceChildren(g);
}

function shortDate(v) {
  if (v === null || v === undefined) return "";
  const d = new Date(typeof v === "number" ? (v > 1e14 ? v / 1e6 : v) : v);
  if (isNaN(d.getTime())) return String(v).slice(0, 10);
  return d.toLocaleDateString([], {month: "short", day: "numeric"}) + " " + d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hour12: false});
}

// ---------------------------------------------------------------- SLO charts
const LOG = v => Math.log10(1 + Math.max(0, v));

function burnChart(slo) {
  const W = 420, H = 160, L = 36, R = 8, T = 8, B = 20;
  const hist = slo.history || [];
  const ts = hist.map((p, i) => p.t ?? i);
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  const windows = [...new Set(hist.flatMap(p => Object.keys(p.burn_rates || {})))];
  const maxV = Math.max(20, ...hist.flatMap(p => Object.values(p.burn_rates || {}).filter(v => v !== null)));
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = v => T + (H - T - B) * (1 - LOG(v) / LOG(maxV));
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "burn-chart", role: "img",
                        "aria-label": `burn rates of ${slo.slo} over time`});
  for (const t of [0, 1, 6, 14.4, maxV >= 100 ? 100 : null].filter(v => v !== null)) {
    g.append(svg("line", {x1: L, x2: W - R, y1: y(t), y2: y(t), class: t >= 1 && t !== 100 ? "threshold" : "grid"}),
             svg("text", {x: L - 4, y: y(t) + 3, class: "axis", "text-anchor": "end"}, t));
  }
  for (const w of windows) {
    const pts = hist.map((p, i) => [ts[i], p.burn_rates ? p.burn_rates[w] : null]).filter(([, v]) => v !== null && v !== undefined);
    if (!pts.length) continue;
    const d = pts.map(([t, v], i) => (i ? "L" : "M") + x(t).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    g.append(svg("path", {d, class: "burn", stroke: WINDOW_COLOURS[w] || "#ccc", "data-window": w},
                 svg("title", {}, `burn rate ${w}: ${fmtNum(pts[pts.length - 1][1])}`)));
  }
  g.append(svg("text", {x: L, y: H - 4, class: "axis small"}, fmtTime(t0)),
           svg("text", {x: W - R, y: H - 4, class: "axis small", "text-anchor": "end"}, fmtTime(t1)));
  return g;
}

function budgetChart(slo) {
  const W = 420, H = 70, L = 36, R = 8, T = 6, B = 6;
  const hist = (slo.history || []).filter(p => p.budget_remaining !== null);
  const g = svg("svg", {viewBox: `0 0 ${W} ${H}`, class: "budget-chart", role: "img",
                        "aria-label": `error budget remaining of ${slo.slo} over time`});
  if (!hist.length) return g;
  const ts = hist.map((p, i) => p.t ?? i);
  const t0 = Math.min(...ts), t1 = Math.max(...ts, t0 + 1);
  const lo = Math.min(0, ...hist.map(p => p.budget_remaining));
  const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
  const y = v => T + (H - T - B) * (1 - (v - lo) / (1 - lo));
  g.append(svg("line", {x1: L, x2: W - R, y1: y(0), y2: y(0), class: "grid"}),
           svg("text", {x: L - 4, y: y(1) + 8, class: "axis", "text-anchor": "end"}, "100%"),
           svg("text", {x: L - 4, y: y(0) + 3, class: "axis", "text-anchor": "end"}, "0%"));
  const line = hist.map((p, i) => (i ? "L" : "M") + x(ts[i]).toFixed(1) + "," + y(p.budget_remaining).toFixed(1)).join(" ");
  const area = line + ` L${x(ts[ts.length - 1]).toFixed(1)},${y(lo).toFixed(1)} L${x(ts[0]).toFixed(1)},${y(lo).toFixed(1)} Z`;
  g.append(svg("path", {d: area, class: "budget-area"}), svg("path", {d: line, class: "budget"}));
  return g;
}

function renderSlos() {
  const box = document.getElementById("slos");
  setEmpty("slos-empty", S.slos.length === 0);
  box.replaceChildren(...S.slos.map(slo => {
    const br = slo.burn_rates || {};
    const budget = slo.budget_remaining;
    const pct = budget === null ? null : budget * 100;
    const legend = h("div", {class: "legend"}, Object.keys(br).map(w =>
      h("span", {class: "legend-item"}, h("i", {style: `background:${WINDOW_COLOURS[w] || "#ccc"}`}), `${w} ${fmtNum(br[w], 1)}`)));
    return h("div", {class: "slo-card tier-" + (slo.policy_tier || "unknown"), dataset: {slo: slo.slo}},
      h("div", {class: "slo-head"},
        h("strong", {}, slo.slo),
        h("span", {class: "muted"}, slo.objective !== null ? `objective ${slo.objective}% / ${slo.period || "30d"}` : ""),
        h("span", {class: "badge tier " + (slo.policy_tier || "")}, slo.policy_tier || "–"),
        (slo.firing || []).length ? h("span", {class: "badge page"}, "firing: " + slo.firing.map(f => typeof f === "string" ? f : (f.name || f.clause || JSON.stringify(f))).join(", ")) : null),
      h("div", {class: "budget-bar", title: "error budget remaining"},
        h("div", {class: "fill", style: `width:${Math.max(0, Math.min(100, pct ?? 0)).toFixed(1)}%`}),
        h("span", {}, pct === null ? "budget –" : `budget remaining ${pct.toFixed(1)}%`)),
      burnChart(slo), legend, budgetChart(slo));
  }));
}

// ---------------------------------------------------------------- trace lists
function renderTraceList() {
  const rows = (S.traces && S.traces[S.tab]) || [];
  const list = document.getElementById("trace-list");
  list.replaceChildren(...rows.map(t => h("li", {class: (t.trace_id === S.traceId ? "selected " : "") + (t.error_count ? "has-error" : "")},
    traceLink(t.trace_id, `${t.root_service || "?"} · ${t.root_name || "?"}`, "row-link"),
    h("span", {class: "num"}, fmtDuration(t.duration_ns)),
    h("span", {class: "muted"}, `${t.span_count} spans`),
    t.error_count ? h("span", {class: "badge page"}, `${t.error_count} err`) : null,
    t.links ? h("span", {class: "tag"}, plural(t.links, "link")) : null,
    t.diagnostics ? h("span", {class: "tag warn"}, `${t.diagnostics} diag`) : null)));
  setEmpty("traces-empty", rows.length === 0);
}

// ---------------------------------------------------------------- waterfall
async function loadTrace(traceId) {
  const refresh = S.traceId === traceId;
  S.traceId = traceId;
  renderTraceList();
  const box = document.getElementById("waterfall");
  if (!refresh) {
    S.shownRevision = undefined;
    box.replaceChildren(h("p", {class: "empty"}, "Loading trace " + traceId + " …"));
  }
  try {
    const resp = await fetch(withToken("/api/traces/" + encodeURIComponent(traceId)));
    const body = await resp.json();
    if (!resp.ok) { box.replaceChildren(h("p", {class: "empty error"}, body.error || resp.statusText)); return; }
    if (S.traceId === traceId) {
      S.shownRevision = body.revision;
      box.replaceChildren(renderWaterfall(body));
    }
  } catch (err) {
    box.replaceChildren(h("p", {class: "empty error"}, "Could not load the trace: " + err));
  }
}

function adjStart(s) { return s.adjusted_start_time_unix_nano ?? s.start_time_unix_nano; }
function adjEnd(s) { return s.adjusted_end_time_unix_nano ?? s.end_time_unix_nano; }
function serviceOf(s) { return (s.resource && s.resource["service.name"]) || s.service_name || "?"; }

function serviceColour(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 55%)`;
}

function renderWaterfall(tr) {
  const spans = tr.spans || [];
  const t0 = Math.min(...spans.map(adjStart));
  const t1 = Math.max(...spans.map(adjEnd), t0 + 1);
  const pct = t => (100 * (t - t0) / (t1 - t0)).toFixed(3) + "%";
  const width = (a, b) => Math.max(0.2, 100 * (b - a) / (t1 - t0)).toFixed(3) + "%";
  const cpBySpan = {};
  for (const seg of tr.critical_path || []) (cpBySpan[seg.span_id] ||= []).push(seg);
  const diagBySpan = {};
  for (const d of tr.diagnostics || []) (diagBySpan[d.span_id] ||= []).push(d);
  const linksOut = tr.links || [];
  const linksIn = tr.linked_from || [];
  const s = tr.summary || {};

  const head = h("div", {class: "wf-head"},
    h("div", {}, h("strong", {}, `${s.root_service || "?"} · ${s.root_name || "?"}`),
      h("span", {class: "muted mono"}, " " + tr.trace_id)),
    h("div", {class: "wf-meta"},
      h("span", {}, fmtDuration(s.duration_ns ?? (t1 - t0))),
      h("span", {}, plural(spans.length, "span")),
      h("span", {}, plural((s.services || []).length, "service")),
      h("span", {}, `revision ${tr.revision} (${tr.reason})`),
      tr.complete === false ? h("span", {class: "badge ticket"}, "incomplete") : null,
      s.error_count ? h("span", {class: "badge page"}, `${s.error_count} errors`) : null));

  const ticks = h("div", {class: "wf-row wf-axis"}, h("div", {class: "wf-label"}, "service · operation"),
    h("div", {class: "wf-track"}, [0, 0.25, 0.5, 0.75, 1].map(f =>
      h("span", {class: "tick", style: `left:${f * 100}%`}, fmtDuration((t1 - t0) * f)))));

  const rows = spans.slice(0, MAX_WATERFALL_ROWS).map(sp => {
    const service = serviceOf(sp);
    const isError = sp.status && sp.status.code === "ERROR";
    const skew = sp.clock_skew_ns || 0;
    const details = h("div", {class: "wf-details", hidden: true},
      h("div", {}, `span ${sp.span_id} · kind ${sp.kind || "INTERNAL"} · host ${(sp.resource || {})["host.name"] || "?"}`),
      h("div", {}, `adjusted ${fmtDuration(adjStart(sp) - t0)} → ${fmtDuration(adjEnd(sp) - t0)}; self time ${fmtDuration(sp.self_time_ns)}`),
      skew ? h("div", {}, `raw start differs by ${fmtDuration(-skew)} (clock skew corrected by ${fmtDuration(skew)})`) : null,
      sp.status && sp.status.message ? h("div", {class: "error"}, "status: " + sp.status.message) : null,
      h("pre", {}, JSON.stringify(sp.attributes || {}, null, 1)));
    const spanLinks = (sp.links || []).map(l => traceLink(l.trace_id, "→ " + shortId(l.trace_id), "span-link"));
    const incoming = linksIn.filter(l => l.linked_span_id === sp.span_id)
      .map(l => traceLink(l.trace_id, "← " + shortId(l.trace_id), "span-link incoming"));
    const row = h("div", {class: "wf-row span-row" + (sp.on_critical_path ? " critical" : "") + (isError ? " error" : ""),
                          dataset: {spanId: sp.span_id}},
      h("div", {class: "wf-label", style: `padding-left:${(sp.depth || 0) * 14 + 4}px`},
        h("span", {class: "svc", style: `color:${serviceColour(service)}`}, service),
        h("span", {class: "op"}, " " + sp.name),
        skew ? h("span", {class: "tag skew", title: "clock skew corrected by " + fmtDuration(skew)}, "skew " + fmtDuration(skew)) : null,
        (diagBySpan[sp.span_id] || []).map(d => h("span", {class: "tag warn", title: d.message}, d.code)),
        spanLinks, incoming),
      h("div", {class: "wf-track"},
        h("div", {class: "wf-bar", style: `left:${pct(adjStart(sp))};width:${width(adjStart(sp), adjEnd(sp))};background:${isError ? "#ef4444" : serviceColour(service)}`,
                  title: `${service} ${sp.name}: ${fmtDuration(adjEnd(sp) - adjStart(sp))}`}),
        (cpBySpan[sp.span_id] || []).map(seg => h("div", {class: "cp-seg",
          style: `left:${pct(seg.start_time_unix_nano)};width:${width(seg.start_time_unix_nano, seg.end_time_unix_nano)}`})),
        h("span", {class: "wf-dur", style: `left:calc(${pct(adjEnd(sp))} + 4px)`}, fmtDuration(adjEnd(sp) - adjStart(sp)))));
    row.addEventListener("click", ev => {
      if (ev.target.closest("a")) return;
      details.hidden = !details.hidden;
    });
    return [row, details];
  });

  const linkList = (title, items, cls) => h("div", {class: "wf-links " + cls},
    h("h3", {}, title),
    items.length ? h("ul", {}, items.map(l => h("li", {},
      traceLink(l.trace_id, l.trace_id, cls === "out" ? "link-out" : "link-in"),
      h("span", {class: "muted"}, cls === "out"
        ? ` from span ${l.span_id} to span ${l.linked_span_id}`
        : ` span ${l.span_id} links to our span ${l.linked_span_id}`)))) : h("p", {class: "muted"}, "none"));

  const diags = tr.diagnostics || [];
  const more = spans.length > MAX_WATERFALL_ROWS
    ? h("p", {class: "muted"}, `… ${spans.length - MAX_WATERFALL_ROWS} more spans not drawn`) : null;
  return h("div", {class: "wf"}, head, ticks, rows.flat(), more,
    h("div", {class: "wf-foot"},
      linkList("Links to other traces", linksOut, "out"),
      linkList("Linked from", linksIn, "in"),
      h("div", {class: "wf-diagnostics"}, h("h3", {}, "Diagnostics"),
        diags.length ? h("ul", {}, diags.map(d => h("li", {}, h("span", {class: "tag warn"}, d.code), " ",
          d.message || "", d.span_id ? h("span", {class: "muted mono"}, " span " + d.span_id) : null)))
          : h("p", {class: "muted"}, "none"))));
}

// ---------------------------------------------------------------- health
function renderHealth() {
  const dlq = S.dlq || {total: 0, by_reason: {}, recent: []};
  document.getElementById("dlq").replaceChildren(
    h("div", {class: "big " + (dlq.total ? "warn" : "")}, String(dlq.total)),
    h("ul", {class: "compact"}, Object.entries(dlq.by_reason).map(([r, n]) => h("li", {}, h("span", {class: "tag"}, r), " ", n))),
    h("ul", {class: "compact dlq-recent"}, dlq.recent.slice(0, 8).map(d =>
      h("li", {title: d.error}, h("span", {class: "mono"}, d.source), " ", h("span", {class: "muted"}, d.error)))));
  const health = S.health || {};
  const lag = (health.lag || []).filter(r => !r.error);
  const lagErr = (health.lag || []).find(r => r.error);
  document.getElementById("lag").replaceChildren(
    lag.length ? h("table", {class: "compact"},
      h("thead", {}, h("tr", {}, ["group", "topic", "partition", "committed", "lag"].map(c => h("th", {}, c)))),
      h("tbody", {}, lag.map(r => h("tr", {class: r.lag > 1000 ? "warn" : ""},
        h("td", {}, r.group), h("td", {}, r.topic), h("td", {class: "num"}, r.partition),
        h("td", {class: "num"}, r.committed), h("td", {class: "num"}, r.lag))))) :
      h("p", {class: "muted"}, lagErr ? "lag unavailable: " + lagErr.error : "no committed offsets yet"));
  const feed = health.feed || {};
  const seen = health.records_seen || {};
  const rejected = health.rejected || {};
  document.getElementById("feed").replaceChildren(h("ul", {class: "compact"},
    h("li", {}, `partitions read: ${feed.assigned_partitions ?? "–"}${feed.error ? " · " + feed.error : ""}`),
    h("li", {}, "records: " + (Object.entries(seen).map(([k, n]) => `${k} ${n}`).join(", ") || "none yet")),
    h("li", {}, `traces held: ${health.traces_held ?? 0}`),
    Object.keys(rejected).length ? h("li", {class: "warn", title: health.last_rejection || ""},
      "unreadable records: " + Object.entries(rejected).map(([k, n]) => `${k} ${n}`).join(", ")) : null,
    h("li", {class: "muted"}, "lag and workers refreshed every 5 s")));
  const workers = health.workers || [];
  const n = v => v === undefined ? "–" : Math.round(v).toLocaleString();
  document.getElementById("workers").replaceChildren(workers.length ?
    h("table", {class: "compact"},
      h("thead", {}, h("tr", {}, ["app", "open traces", "open spans", "spans in", "spans out", "records in", "DLQ", "lag", "endpoint"]
        .map(c => h("th", {}, c)))),
      h("tbody", {}, workers.map(w => h("tr", {class: w.up ? "" : "warn"},
        h("td", {}, w.app || "down"), h("td", {class: "num"}, n(w.open_traces)), h("td", {class: "num"}, n(w.open_spans)),
        h("td", {class: "num"}, n(w.spans_in)), h("td", {class: "num"}, n(w.spans_out)),
        h("td", {class: "num"}, n(w.records_in)), h("td", {class: "num"}, n(w.dlq)), h("td", {class: "num"}, n(w.lag)),
        h("td", {class: "muted mono", title: w.error || ""}, w.url))))) :
    h("p", {class: "muted"}, "no worker metrics endpoints found (workers announce them in OBSPIPE_RUN_DIR/metrics, or pass --metrics-url)"));
  renderCounters();
}

// ---------------------------------------------------------------- wiring
function applySnapshot(snap) {
  Object.assign(S, {pages: snap.pages, page_counts: snap.page_counts, shifts: snap.shifts, slos: snap.slos,
                    traces: snap.traces, dlq: snap.dlq, health: snap.health});
  renderPages(); renderShifts(); renderSlos(); renderTraceList(); renderHealth();
}

function setConn(state, text) {
  const el = document.getElementById("conn");
  el.dataset.state = state;
  document.getElementById("conn-text").textContent = text;
}

function connect() {
  const es = new EventSource(withToken("/events"));
  const on = (name, fn) => es.addEventListener(name, e => fn(JSON.parse(e.data)));
  es.onopen = () => setConn("live", "live");
  es.onerror = () => setConn("down", "reconnecting…");
  on("snapshot", applySnapshot);
  on("page", addPage);
  on("page_counts", c => { S.page_counts = c; renderCounters(); });
  on("slos", v => { S.slos = v; renderSlos(); });
  on("shifts", v => { S.shifts = v; renderShifts(); });
  on("traces", v => { S.traces = v; renderTraceList(); refreshOpenTrace(); });
  on("dlq", v => { S.dlq = v; renderHealth(); });
  on("health", v => { S.health = v; renderHealth(); });
}

// A late span or a new incoming link makes a new revision: redraw the open trace with it.
function refreshOpenTrace() {
  if (!S.traceId) return;
  const rows = [...S.traces.recent, ...S.traces.slow, ...S.traces.errors];
  const row = rows.find(t => t.trace_id === S.traceId);
  if (row && S.shownRevision !== undefined && row.revision > S.shownRevision) loadTrace(S.traceId);
}

function route() {
  const m = location.hash.match(/^#trace=([0-9a-fA-F]+)$/);
  if (m) loadTrace(m[1].toLowerCase());
}

document.getElementById("trace-tabs").addEventListener("click", ev => {
  const tab = ev.target.closest("button");
  if (!tab) return;
  S.tab = tab.dataset.tab;
  for (const b of document.querySelectorAll("#trace-tabs button")) b.classList.toggle("active", b === tab);
  renderTraceList();
});
document.getElementById("trace-open").addEventListener("submit", ev => {
  ev.preventDefault();
  const id = document.getElementById("trace-id").value.trim().toLowerCase();
  if (/^[0-9a-f]{1,32}$/.test(id)) location.hash = "#trace=" + id.padStart(32, "0");
});
window.addEventListener("hashchange", route);
connect();
route();
