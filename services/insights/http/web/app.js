// Switchboard supervisor dashboard. Plain ES module, no dependencies: reads /api/* (the insights
// protos as JSON, snake_case field names, int64 as strings) and follows /api/floor/stream (SSE).
// Figures are defined in docs/insights.md; the page in docs/dashboard.md.

const $ = (id) => document.getElementById(id);
const DASH = '\u2014';  // shown for an absent figure: never 0 or NaN

// ---- formatting -------------------------------------------------------------------------------

// A proto number (int64 arrives as a string); undefined/null/'' → null.
function num(v) {
  if (v === undefined || v === null || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}
function fmtInt(v) {
  const n = num(v);
  return n === null ? DASH : Math.round(n).toLocaleString('en-US');
}
function fmtPct(v, digits = 0) {
  const n = num(v);
  return n === null ? DASH : `${(n * 100).toFixed(digits)}%`;
}
// Milliseconds as "42s", "3:07", "1:02:03".
function fmtDur(v) {
  const n = num(v);
  if (n === null) return DASH;
  const s = Math.max(0, Math.floor(n / 1000));
  if (s < 60) return `${s}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}
function fmtTime(iso) {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toLocaleTimeString([], {hour12: false}) : DASH;
}

// Builds an element: h('td', {class: 'num', dataset: {field: 'x'}}, 'text', child, ...).
// Text always goes through text nodes (names come from events: never parsed as HTML).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const svgNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs = {}, text) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// ---- state ------------------------------------------------------------------------------------

const state = {
  tenant: null,
  source: null,         // EventSource
  reopenTimer: null,
  lastFloor: null,
  lastFrameAt: 0,       // Date.now() of the last frame
  queues: [],           // [{id, name}] for the forecast selector
};
window.sbLatencies = [];  // ms from a Floor's as_of to its arrival here, the last 1000 frames

function setConnection(kind, text) {
  const el = $('connection');
  el.className = `conn conn-${kind}`;
  el.textContent = text;
  document.body.dataset.connection = kind;
}
function notice(text) {
  const el = $('notice');
  el.hidden = !text;
  el.textContent = text || '';
}

// ---- tenants ----------------------------------------------------------------------------------

async function fetchJson(url) {
  const res = await fetch(url, {cache: 'no-store'});
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(body.message || `${res.status} ${res.statusText}`);
    err.reason = body.reason;
    err.status = res.status;
    throw err;
  }
  return body;
}

async function loadTenants() {
  const wanted = new URLSearchParams(location.search).get('tenant');
  let tenants = [];
  try {
    tenants = (await fetchJson('/api/tenants')).tenants || [];
  } catch (e) {
    setConnection('down', 'unreachable');
    notice(`Cannot reach the insights service: ${e.message}. Retrying…`);
    setTimeout(loadTenants, 2000);
    return;
  }
  if (wanted && !tenants.includes(wanted)) tenants.unshift(wanted);
  const select = $('tenant');
  select.replaceChildren(...tenants.map((t) => h('option', {value: t}, t)));
  if (tenants.length === 0) {
    notice('No tenant has sent any events yet. Waiting…');
    setTimeout(loadTenants, 2000);
    return;
  }
  notice('');
  selectTenant(wanted || tenants[0]);
}

function selectTenant(tenant) {
  state.tenant = tenant;
  $('tenant').value = tenant;
  const params = new URLSearchParams(location.search);
  if (params.get('tenant') !== tenant) {
    params.set('tenant', tenant);
    history.replaceState(null, '', `${location.pathname}?${params}`);
  }
  state.queues = [];
  openStream();
  loadForecast();
}

// ---- live floor (SSE) -------------------------------------------------------------------------

function openStream() {
  if (state.source) state.source.close();
  clearTimeout(state.reopenTimer);
  setConnection('connecting', 'connecting');
  const es = new EventSource(`/api/floor/stream?tenant=${encodeURIComponent(state.tenant)}`);
  state.source = es;
  es.onopen = () => setConnection('live', 'live');
  es.addEventListener('floor', (ev) => {
    if (es !== state.source) return;
    let floor;
    try {
      floor = JSON.parse(ev.data);
    } catch {
      return;
    }
    const asOf = Date.parse(floor.as_of);
    if (Number.isFinite(asOf)) {
      window.sbLatencies.push(Date.now() - asOf);
      if (window.sbLatencies.length > 1000) window.sbLatencies.shift();
    }
    setConnection('live', 'live');
    notice('');
    renderFloor(floor);
  });
  es.addEventListener('error', (ev) => {
    if (es !== state.source) return;
    // An "error" event with data is the server's (the source failed); without, the connection.
    if (ev.data) {
      try {
        notice(`Server: ${JSON.parse(ev.data).message}`);
      } catch { /* not JSON */ }
      return;
    }
    setConnection('reconnecting', 'reconnecting');
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (404 for a tenant without events, 503 while stopping):
      // EventSource gives up on those, so retry ourselves.
      state.reopenTimer = setTimeout(openStream, 3000);
    }
  });
}

// ---- rendering: wallboard ---------------------------------------------------------------------

function slClass(sl, target) {
  const v = num(sl);
  const t = num(target) ?? 0.8;
  if (v === null) return 'na';
  if (v >= t) return 'good';
  if (v >= t - 0.1) return 'warn';
  return 'bad';
}

function windowByLength(q, ms) {
  return (q.windows || []).find((w) => num(w.window_ms) === ms) || null;
}

function figure(label, field, value, cls = '', title = '') {
  return h('div', {class: `fig ${cls}`, title: title || null},
    h('span', {class: 'label'}, label),
    h('span', {class: 'value', dataset: {field}}, value));
}

function queueTile(q, thresholdLabel) {
  const today = q.today || {};
  const w15 = windowByLength(q, 15 * 60 * 1000);
  const w60 = windowByLength(q, 60 * 60 * 1000);
  const target = num(q.sl_target);
  const waiting = num(q.waiting) ?? 0;
  const longest = num(q.longest_wait_ms) ?? 0;
  const threshold = num(q.sl_threshold_ms);
  // Alert when someone has waited past the threshold.
  const alert = waiting > 0 && threshold !== null && longest > threshold;
  const available = num(q.agents_available) ?? 0;
  return h('article', {class: `tile ${alert ? 'alert' : ''}`,
      dataset: {testid: `queue-${q.queue_id}`, queue: q.queue_id}},
    h('header', {},
      h('h3', {}, q.name || q.queue_id),
      h('span', {class: 'target'}, `target ${fmtPct(target)} in ${fmtDur(threshold)}`)),
    h('div', {class: 'big'},
      figure('Waiting', 'waiting', fmtInt(q.waiting), waiting > 0 && available === 0 ? 'bad' : ''),
      figure('Longest wait', 'longest_wait', waiting > 0 ? fmtDur(q.longest_wait_ms) : DASH,
        alert ? 'bad' : ''),
      figure('SL today', 'sl_today', fmtPct(today.service_level),
        slClass(today.service_level, target))),
    h('div', {class: 'row'},
      figure('SL 15m', 'sl_15m', fmtPct(w15?.service_level), slClass(w15?.service_level, target)),
      figure('SL 60m', 'sl_60m', fmtPct(w60?.service_level), slClass(w60?.service_level, target)),
      figure('ASA', 'asa_today', fmtDur(today.asa_ms), '', 'average speed of answer, today'),
      figure('Abandoned', 'abandon_rate_today', fmtPct(today.abandon_rate, 1), '',
        'abandoned / (answered + abandoned), today')),
    h('div', {class: 'row'},
      figure('Available', 'agents_available', fmtInt(q.agents_available),
        available === 0 && waiting > 0 ? 'bad' : 'ok'),
      figure('Busy', 'agents_busy', fmtInt(q.agents_busy)),
      figure('Logged in', 'agents_logged_in', fmtInt(q.agents_logged_in)),
      figure('Answered', 'answered_today', fmtInt(today.answered), '', 'answered today')));
}

function renderQueues(floor) {
  const queues = floor.queues || [];
  const box = $('queues');
  if (queues.length === 0) {
    box.replaceChildren(h('p', {class: 'empty'}, 'No queues yet.'));
  } else {
    box.replaceChildren(...queues.map((q) => queueTile(q)));
  }
  const ids = queues.map((q) => ({id: q.queue_id, name: q.name || q.queue_id}));
  if (JSON.stringify(ids) !== JSON.stringify(state.queues)) {
    state.queues = ids;
    fillForecastQueues();
  }
}

// ---- rendering: floor, long interactions, escalations ----------------------------------------

const presenceOrder = {available: 1, aux: 2, offline: 3};

function agentState(a) {
  if (a.busy) return {key: 'busy', text: 'busy'};
  if (num(a.offers_pending) > 0) return {key: 'offered', text: 'ringing'};
  const p = a.presence || 'unknown';
  return {key: p, text: a.reason ? `${p} · ${a.reason}` : p};
}

function renderAgents(floor) {
  const longByAgent = new Map();
  for (const l of floor.long_interactions || []) longByAgent.set(l.agent_id, l);
  const agents = [...(floor.agents || [])];
  agents.sort((x, y) => {
    const rx = x.busy ? 0 : presenceOrder[x.presence] ?? 4;
    const ry = y.busy ? 0 : presenceOrder[y.presence] ?? 4;
    if (rx !== ry) return rx - ry;
    return (num(y.time_in_state_ms) ?? 0) - (num(x.time_in_state_ms) ?? 0);
  });
  const rows = agents.map((a) => {
    const st = agentState(a);
    const long = longByAgent.get(a.agent_id);
    return h('tr', {class: `st-${st.key} ${long ? 'long' : ''}`,
        dataset: {testid: `agent-${a.agent_id}`, agent: a.agent_id}},
      h('td', {}, a.name || a.agent_id),
      h('td', {dataset: {field: 'team'}}, a.team || DASH),
      h('td', {},
        h('span', {class: `badge b-${st.key}`, dataset: {field: 'state'}}, st.text),
        // The raw presence, for scripts and the browser test.
        h('span', {class: 'sr', dataset: {field: 'presence'}}, a.presence || '')),
      h('td', {class: 'num', dataset: {field: 'time_in_state', ms: num(a.time_in_state_ms) ?? ''}},
        fmtDur(a.time_in_state_ms)),
      h('td', {class: 'num', dataset: {field: 'interactions'}},
        long ? `${fmtInt(a.interactions)} ⚠ ${fmtDur(long.duration_ms)}` : fmtInt(a.interactions)),
      h('td', {class: 'num', dataset: {field: 'handled_today'}}, fmtInt(a.handled_today)),
      h('td', {class: 'num', dataset: {field: 'aht_today'}}, fmtDur(a.aht_ms_today)),
      h('td', {class: 'num', dataset: {field: 'occupancy_today'}}, fmtPct(a.occupancy_today)));
  });
  $('agents').replaceChildren(...(rows.length ? rows :
    [h('tr', {}, h('td', {colspan: 8, class: 'empty'}, 'No agents yet.'))]));
  const count = (pred) => agents.filter(pred).length;
  $('floor-summary').textContent =
    `${count((a) => a.presence && a.presence !== 'offline')} logged in · ` +
    `${count((a) => a.busy)} busy · ${count((a) => !a.busy && a.presence === 'available')} ` +
    `available · ${count((a) => a.presence === 'aux')} aux`;
}

function agentName(floor, id) {
  const a = (floor.agents || []).find((x) => x.agent_id === id);
  return (a && a.name) || id || DASH;
}

function renderLong(floor) {
  const rows = (floor.long_interactions || []).map((l) =>
    h('tr', {class: 'long', dataset: {testid: `long-${l.interaction_id}`}},
      h('td', {}, agentName(floor, l.agent_id)), h('td', {}, l.queue_id || DASH),
      h('td', {class: 'num bad', dataset: {field: 'duration'}}, fmtDur(l.duration_ms)),
      h('td', {class: 'num'}, fmtDur(l.threshold_ms))));
  $('long').replaceChildren(...(rows.length ? rows :
    [h('tr', {}, h('td', {colspan: 4, class: 'empty'}, 'None.'))]));
}

function renderEscalations(floor) {
  const rows = (floor.escalations || []).map((e) =>
    h('tr', {dataset: {testid: `escalation-${e.task_id}`}},
      h('td', {}, agentName(floor, e.agent_id)), h('td', {}, e.team || DASH),
      h('td', {}, e.reason || DASH), h('td', {}, e.queue_id || DASH),
      h('td', {class: 'num', dataset: {field: 'age'}}, fmtDur(e.age_ms))));
  $('escalations').replaceChildren(...(rows.length ? rows :
    [h('tr', {}, h('td', {colspan: 5, class: 'empty'}, 'None.'))]));
}

function renderFloor(floor) {
  state.lastFloor = floor;
  state.lastFrameAt = Date.now();
  renderQueues(floor);
  renderAgents(floor);
  renderLong(floor);
  renderEscalations(floor);
  $('as-of').textContent = fmtTime(floor.as_of);
  $('as-of').dateTime = floor.as_of || '';
  $('events').textContent = fmtInt(floor.events_applied);
  document.body.dataset.eventsApplied = String(num(floor.events_applied) ?? 0);
  document.body.dataset.asOf = floor.as_of || '';
}

// Between frames (at least every 5 s) time-in-state moves on here, from the last frame's figure.
setInterval(() => {
  if (!state.lastFloor) return;
  const elapsed = Date.now() - state.lastFrameAt;
  for (const td of document.querySelectorAll('#agents td[data-field="time_in_state"]')) {
    const ms = num(td.dataset.ms);
    if (ms !== null) td.textContent = fmtDur(ms + elapsed);
  }
  // A stream silent for 3 heartbeats is not live, whatever EventSource thinks.
  if (elapsed > 15000 && document.body.dataset.connection === 'live') {
    setConnection('reconnecting', 'reconnecting');
  }
}, 1000);

// ---- forecast chart ---------------------------------------------------------------------------

function tomorrowUtc() {
  const d = new Date(Date.now() + 86400000);
  return d.toISOString().slice(0, 10);
}

function fillForecastQueues() {
  const select = $('fc-queue');
  const current = select.value;
  select.replaceChildren(...state.queues.map((q) => h('option', {value: q.id}, q.name)));
  if (state.queues.some((q) => q.id === current)) select.value = current;
  if (select.value !== current) loadForecast();
}

let forecastSeq = 0;
async function loadForecast() {
  const queue = $('fc-queue').value;
  if (!state.tenant || !queue) {
    $('fc-summary').textContent = 'Pick a queue.';
    return;
  }
  if (!$('fc-day').value) $('fc-day').value = tomorrowUtc();
  const params = new URLSearchParams({tenant: state.tenant, queue, day: $('fc-day').value,
    seasonality: $('fc-seasonality').value});
  const seq = ++forecastSeq;
  try {
    const fc = await fetchJson(`/api/forecast?${params}`);
    if (seq !== forecastSeq) return;
    drawForecast(fc);
  } catch (e) {
    if (seq !== forecastSeq) return;
    $('fc-summary').textContent = `Forecast unavailable: ${e.message}`;
    $('chart').replaceChildren();
  }
}

// The smallest 1, 2 or 5 × 10^k at least x (a round grid step).
function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function drawForecast(fc) {
  const rows = fc.rows || [];
  const observed = rows.some((r) => (num(r.observations) ?? 0) > 0);
  $('fc-summary').textContent = observed ?
    `${fmtInt(fc.total_offered)} arrivals expected · agent-hours ` +
    `Erlang C ${(num(fc.agent_hours_erlang_c) ?? 0).toFixed(1)}, ` +
    `Erlang A ${(num(fc.agent_hours_erlang_a) ?? 0).toFixed(1)} · SL ${fmtPct(fc.sl_target)} in ` +
    `${fmtDur(fc.sl_threshold_ms)} · patience ` +
    `${num(fc.patience_s) === null ? `${DASH} (Erlang A = C)` :
      `${fmtDur(num(fc.patience_s) * 1000)}${fc.patience_estimated ? ' (estimated)' : ''}`}` :
    'No history for this day yet: the forecast needs past intervals of this queue.';
  document.body.dataset.forecastRows = String(rows.length);

  const W = 1200, H = 320, L = 44, R = 48, T = 26, B = 28;
  const pw = W - L - R, ph = H - T - B;
  // Axis tops rounded up so that the 4 grid steps are whole numbers of agents.
  const maxAgents = 4 * Math.ceil(Math.max(1, ...rows.map((r) => Math.max(
    num(r.agents_erlang_c) ?? 0, num(r.agents_erlang_a) ?? 0))) / 4);
  const maxArr = 4 * niceStep(Math.max(1, ...rows.map((r) => num(r.offered) ?? 0)) / 4);
  const n = Math.max(rows.length, 1);
  const slot = pw / n;
  const bw = Math.max(1, slot * 0.4);
  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Agents required per 15 minutes, ${fc.queue_id} on ${fc.day}`});
  const yA = (v) => T + ph - (v / maxAgents) * ph;
  const yR = (v) => T + ph - (v / maxArr) * ph;
  // Grid and axes: 4 steps on each side.
  for (let i = 0; i <= 4; i++) {
    const y = T + (ph * i) / 4;
    svg.append(s('line', {x1: L, x2: W - R, y1: y, y2: y, class: 'gridline'}));
    svg.append(s('text', {x: L - 6, y: y + 4, class: 'axis', 'text-anchor': 'end'},
      Math.round(maxAgents * (1 - i / 4))));
    svg.append(s('text', {x: W - R + 6, y: y + 4, class: 'axis arr'},
      +(maxArr * (1 - i / 4)).toFixed(2)));
  }
  rows.forEach((r, i) => {
    const x = L + i * slot;
    const c = num(r.agents_erlang_c) ?? 0;
    const a = num(r.agents_erlang_a) ?? 0;
    const start = r.start ? r.start.slice(11, 16) : '';
    const tip = `${start} UTC — Erlang C ${c}, Erlang A ${a} agents; ` +
      `${(num(r.offered) ?? 0).toFixed(1)} arrivals, AHT ${(num(r.aht_s) ?? 0).toFixed(0)} s`;
    const bc = s('rect', {x: x + slot * 0.1, y: yA(c), width: bw, height: T + ph - yA(c),
      class: 'bar-c'});
    bc.append(s('title', {}, tip));
    const ba = s('rect', {x: x + slot * 0.1 + bw, y: yA(a), width: bw, height: T + ph - yA(a),
      class: 'bar-a'});
    ba.append(s('title', {}, tip));
    svg.append(bc, ba);
    if (i % 8 === 0) {
      svg.append(s('text', {x: x, y: H - 8, class: 'axis'}, start));
    }
  });
  if (rows.length) {
    const pts = rows.map((r, i) => `${(L + (i + 0.5) * slot).toFixed(1)},` +
      `${yR(num(r.offered) ?? 0).toFixed(1)}`);
    svg.append(s('polyline', {points: pts.join(' '), class: 'line-arr'}));
  }
  svg.append(s('text', {x: 4, y: 14, class: 'axis'}, 'agents'));
  svg.append(s('text', {x: W - 4, y: 14, class: 'axis arr', 'text-anchor': 'end'},
    'arrivals / 15 min'));
  $('chart').replaceChildren(svg);
}

// ---- wiring -----------------------------------------------------------------------------------

function toggleWall() {
  const on = document.body.classList.toggle('wall');
  if (on && document.documentElement.requestFullscreen && !document.fullscreenElement) {
    document.documentElement.requestFullscreen().catch(() => {});
  } else if (!on && document.fullscreenElement) {
    document.exitFullscreen().catch(() => {});
  }
  const params = new URLSearchParams(location.search);
  if (on) params.set('wall', '1'); else params.delete('wall');
  history.replaceState(null, '', `${location.pathname}?${params}`);
}

$('tenant').addEventListener('change', (e) => selectTenant(e.target.value));
$('wall').addEventListener('click', toggleWall);
document.addEventListener('keydown', (e) => {
  if (e.key === 'w' && !(e.target instanceof HTMLInputElement) &&
      !(e.target instanceof HTMLSelectElement)) toggleWall();
});
for (const id of ['fc-queue', 'fc-day', 'fc-seasonality']) {
  $(id).addEventListener('change', loadForecast);
}
$('forecast-form').addEventListener('submit', (e) => e.preventDefault());
setInterval(loadForecast, 60000);
if (new URLSearchParams(location.search).get('wall') === '1') document.body.classList.add('wall');
$('fc-day').value = tomorrowUtc();
loadTenants();
