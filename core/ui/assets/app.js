// The Reactive Fabric dashboard. Preact + htm (no build step), uPlot for the rate chart. All data
// comes from the admin API of the server that served this page, authenticated by the HttpOnly
// session cookie; the admin token never reaches this script. Every value shown may have been
// written by an attacker (log lines, rule matches): it is rendered as text only, never as HTML.
//
// No module-level state: one Instance object (created by <App>) holds the connection and the
// live model of the instance this page talks to, so a page showing several members later only
// creates more of them.
import { html, render, useState, useEffect, useMemo, useRef } from '/ui/vendor/htm-preact.js';
import uPlot from '/ui/vendor/uplot.js';

const MAX_SAMPLES = 180;
const MAX_DETECTIONS = 500;
const COMMAND_EVENTS = { START: 'start', STOP: 'stop', PAUSE: 'pause', RESUME: 'resume', RESTART: 'restart' };
const COMMAND_ORDER = ['start', 'resume', 'pause', 'restart', 'stop'];
const PRIORITIES = ['critical', 'high', 'medium', 'low', 'info'];
const SUGGESTED = {
  AUTH_FAILED: 'Check the credentials in the collector config (the secret or its environment variable), then restart it.',
  BAD_CONFIG: 'Fix the collector config (POST /plugins/:name/config/validate shows field errors), then restart it.',
  QUOTA_EXHAUSTED: 'The source quota is used up: wait for it to reset or raise the plan; polling resumes by itself.',
  RATE_LIMITED: 'The backend is throttling: it retries with backoff; lower the poll frequency if this persists.',
  UNAVAILABLE: 'The backend or file cannot be reached: check the path, host and network; polls retry by themselves.',
  TIMEOUT: 'The backend answers too slowly: check its load, or raise the plugin timeout.',
  BAD_RESPONSE: 'The backend answered something unexpected: check its version and the plugin version.',
  PLUGIN_CRASHED: 'The plugin threw an unexpected error: see the server log for its stack, update or report the plugin.',
  CONTRACT_VIOLATION: 'The plugin broke the plugin contract: update or report the plugin.',
  STALLED: 'No progress for a long time: check the backend, then restart the collector.',
  ABORTED: 'A poll was cancelled (stop or restart): nothing to do.',
  CHECKPOINT_WRITE_FAILED: 'Free disk space or fix permissions on the state directory; the collector recovers at the next successful write.',
  UNRESPONSIVE: "The plugin blocked its worker's event loop (a synchronous loop?): its worker was stopped and the collector restarted. Update or report the plugin.",
  MEMORY_LIMIT: 'The plugin used more memory than max_heap_mb: raise it if the plugin needs more, or report a leak.',
  CRASHED: 'The plugin threw outside any call (a timer or an unhandled rejection): its worker ended. Update or report the plugin.',
  EXITED: 'The plugin called process.exit(): only its worker ended. Update or report the plugin.',
};

// ---------------------------------------------------------------------------------------------
// Connection to one instance

class AuthLost extends Error {}

function createApi(base) {
  let csrf;
  const onAuthLost = new Set();
  const lost = () => {
    for (const f of onAuthLost) f();
    return new AuthLost('session ended');
  };
  async function request(method, path, body) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET') {
      if (!csrf) csrf = (await request('GET', '/ui/session')).csrf;
      headers['x-fabric-csrf'] = csrf;
    }
    const res = await fetch(base + path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    if (res.status === 401) throw lost();
    const text = await res.text();
    const data = text ? JSON.parse(text) : null;
    if (!res.ok) {
      const err = new Error((data && data.message) || `HTTP ${res.status}`);
      err.status = res.status;
      err.body = data;
      throw err;
    }
    return data;
  }
  return {
    base,
    get: (path) => request('GET', path),
    send: (method, path, body) => request(method, path, body),
    onAuthLost: (f) => (onAuthLost.add(f), () => onAuthLost.delete(f)),
    async logout() {
      try {
        await request('DELETE', '/ui/session');
      } finally {
        location.assign('/ui/login');
      }
    },
  };
}

/** The live model of one instance: collectors, overview numbers, rate samples, detections. */
function createInstance(base) {
  const api = createApi(base);
  const listeners = new Set();
  const state = {
    connected: false,
    collectors: new Map(),
    overview: undefined,
    samples: [],
    detections: [],
    // Per collector, bumped on each of its transitions so its page knows to re-read.
    transitionsSeen: new Map(),
    error: undefined,
  };
  // Bursts of events (hundreds of detections in one batch) re-render once per 100 ms, not once each.
  let notifyTimer;
  const notify = () => {
    if (notifyTimer) return;
    notifyTimer = setTimeout(() => {
      notifyTimer = undefined;
      for (const l of listeners) l();
    }, 100);
  };
  let overviewTimer;
  let overviewInFlight = false;
  const refreshOverview = () => {
    if (overviewTimer) return;
    overviewTimer = setTimeout(async () => {
      overviewTimer = undefined;
      if (overviewInFlight) return refreshOverview();
      overviewInFlight = true;
      try {
        state.overview = await api.get('/overview');
        state.error = undefined;
      } catch (err) {
        if (!(err instanceof AuthLost)) state.error = `overview: ${err.message}`;
      } finally {
        overviewInFlight = false;
      }
      notify();
    }, 250);
  };
  const sources = [];
  const open = (path, handlers) => {
    const es = new EventSource(base + path, { withCredentials: true });
    for (const [type, fn] of Object.entries(handlers)) {
      es.addEventListener(type, (ev) => {
        fn(JSON.parse(ev.data));
        notify();
      });
    }
    es.onopen = () => {
      state.connected = true;
      notify();
    };
    es.onerror = () => {
      state.connected = false;
      notify();
      // A closed stream (not a reconnecting one) means the server refused it: the session is gone.
      if (es.readyState === EventSource.CLOSED) api.get('/ui/session').catch(() => undefined);
    };
    sources.push(es);
  };
  const applySummary = (c) => {
    state.collectors.set(c.id, c);
  };

  async function start() {
    const [overview, history, detections] = await Promise.all([api.get('/overview'), api.get('/history'), api.get('/detections?limit=200')]);
    state.overview = overview;
    state.samples = history.samples.slice(-MAX_SAMPLES);
    state.detections = detections.detections;
    for (const c of overview.collectors) applySummary(c);
    notify();
    open('/events', {
      snapshot: (d) => {
        state.collectors = new Map();
        for (const c of d.collectors) applySummary(c);
        refreshOverview();
      },
      status: (c) => {
        applySummary(c);
        refreshOverview();
      },
      transition: (t) => {
        state.transitionsSeen.set(t.collector, (state.transitionsSeen.get(t.collector) ?? 0) + 1);
      },
      gap: () => refreshOverview(),
    });
    open('/feed', {
      sample: (s) => {
        state.samples = [...state.samples.slice(-(MAX_SAMPLES - 1)), s];
        refreshOverview();
      },
      detection: (d) => {
        if (state.detections.some((x) => x.seq === d.seq)) return;
        state.detections = [...state.detections.slice(-(MAX_DETECTIONS - 1)), d];
      },
    });
  }

  return {
    api,
    state,
    start,
    subscribe: (l) => (listeners.add(l), () => listeners.delete(l)),
    refreshOverview,
    close() {
      for (const es of sources) es.close();
      clearTimeout(overviewTimer);
      clearTimeout(notifyTimer);
      listeners.clear();
    },
  };
}

function useInstance(instance) {
  const [, setTick] = useState(0);
  useEffect(() => instance.subscribe(() => setTick((n) => n + 1)), [instance]);
  return instance.state;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const fmtRate = (n) => (n === undefined || n === null ? '–' : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const fmtInt = (n) => (n === undefined || n === null ? '–' : Number(n).toLocaleString('en-US'));
const fmtMb = (n) => (n === undefined || n === null ? '–' : `${(Number(n) / 1048576).toFixed(1)} MB`);
function ago(iso, now = Date.now()) {
  if (!iso) return '–';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
const time = (iso) => (iso ? new Date(iso).toLocaleTimeString('en-GB', { hour12: false }) : '–');

function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const f = () => setHash(location.hash || '#/');
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return hash;
}

// ---------------------------------------------------------------------------------------------
// Small components

const Badge = ({ kind, value }) => html`<span class=${`badge ${kind}-${value}`}>${value}</span>`;

function Sparkline({ points, label }) {
  const w = 90;
  const h = 22;
  if (!points.length) return html`<span class="muted small">no data yet</span>`;
  const max = Math.max(1, ...points.map((p) => Math.max(p.in, p.out)));
  const line = (key) => points.map((p, i) => `${((i / Math.max(1, points.length - 1)) * w).toFixed(1)},${(h - 1 - (p[key] / max) * (h - 2)).toFixed(1)}`).join(' ');
  return html`<svg class="spark" width=${w} height=${h} viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}>
    <polyline class="in" points=${line('in')} />
    <polyline class="out" points=${line('out')} />
  </svg>`;
}

function RateChart({ samples }) {
  const ref = useRef();
  const plot = useRef();
  const data = useMemo(() => [samples.map((s) => s.t / 1000), samples.map((s) => s.collected), samples.map((s) => s.published), samples.map((s) => s.queueEvents)], [samples]);
  useEffect(() => {
    const el = ref.current;
    const opts = {
      width: Math.max(300, el.clientWidth - 8),
      height: 200,
      legend: { show: false },
      cursor: { show: false },
      // Always the server's whole window, so a fresh instance does not stretch seconds across the chart.
      scales: {
        x: {
          time: true,
          range: (_u, _min, max) => {
            const end = max ?? Date.now() / 1000;
            return [end - 900, end];
          },
        },
      },
      axes: [{}, { label: 'events/s' }],
      series: [
        {},
        { label: 'collected/s', stroke: '#1d4ed8', width: 2 },
        { label: 'published/s', stroke: '#b45309', width: 2 },
        { label: 'queue (events)', stroke: '#64748b', width: 1, dash: [4, 4] },
      ],
    };
    plot.current = new uPlot(opts, data, el);
    const onResize = () => plot.current.setSize({ width: Math.max(300, el.clientWidth - 8), height: 200 });
    addEventListener('resize', onResize);
    return () => {
      removeEventListener('resize', onResize);
      plot.current.destroy();
      plot.current = undefined;
    };
  }, []);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`<div class="chart" ref=${ref} role="img" aria-label="Events collected and published per second, and pipeline queue depth, over the last 15 minutes"></div>
    <p class="small muted">Blue: collected/s · orange: published/s · grey dashed: queue depth (events). One point every 5 s, 15 minutes kept by the server.</p>`;
}

// ---------------------------------------------------------------------------------------------
// Overview

function lastRates(samples, id) {
  const pts = [];
  for (const s of samples.slice(-36)) if (s.collectors[id]) pts.push(s.collectors[id]);
  return pts;
}

const COLUMNS = [
  { key: 'id', label: 'Collector' },
  { key: 'state', label: 'State' },
  { key: 'since', label: 'Since' },
  { key: 'in', label: 'In/s', num: true },
  { key: 'out', label: 'Out/s', num: true },
  { key: 'spark', label: 'Last 3 min', nosort: true },
  { key: 'lag', label: 'Checkpoint age' },
  { key: 'error', label: 'Last error' },
  { key: 'restarts', label: 'Restarts of budget', num: true },
];

function Overview({ instance }) {
  const st = useInstance(instance);
  const now = useNow();
  const [sort, setSort] = useState({ key: 'id', dir: 1 });
  const [filter, setFilter] = useState('');
  const [stateFilter, setStateFilter] = useState('');
  const ov = st.overview;
  const last = st.samples[st.samples.length - 1];
  const detailById = new Map((ov?.collectors ?? []).map((c) => [c.id, c]));
  const rows = [...st.collectors.values()].map((c) => {
    const d = detailById.get(c.id) ?? {};
    const r = last?.collectors[c.id] ?? { in: 0, out: 0 };
    return {
      ...d,
      ...c,
      in: r.in,
      out: r.out,
      lag: d.checkpointUpdatedAt ? Date.parse(d.checkpointUpdatedAt) : 0,
      error: d.lastError?.code ?? '',
      restarts: d.restartsInPeriod ?? 0,
    };
  });
  const q = filter.trim().toLowerCase();
  const shown = rows
    .filter((r) => (!q || `${r.id} ${r.plugin} ${r.error}`.toLowerCase().includes(q)) && (!stateFilter || r.state === stateFilter))
    .sort((a, b) => {
      const x = a[sort.key];
      const y = b[sort.key];
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x ?? '').localeCompare(String(y ?? ''))) * sort.dir;
    });
  const freshest = rows
    .map((r) => r.lastSuccessAt)
    .filter(Boolean)
    .sort()
    .pop();
  const budget = ov?.restartBudget;
  const toggle = (key) => setSort((s) => ({ key, dir: s.key === key ? -s.dir : 1 }));
  return html`<main class="view" id="overview">
    <h1>Overview</h1>
    <div class="cards">
      <div class="card"><div class="label">Sink</div><div class="value"><span class=${`badge ${ov?.sink.ok ? 'ok' : 'bad'}`} data-testid="sink-state">${ov ? (ov.sink.ok ? 'healthy' : 'down') : '…'}</span></div><div class="sub">${ov?.sink.detail ?? ''}</div></div>
      <div class="card"><div class="label">Collected</div><div class="value" data-testid="rate-in">${fmtRate(last?.collected)}/s</div><div class="sub">all collectors, last 5 s</div></div>
      <div class="card"><div class="label">Published</div><div class="value" data-testid="rate-out">${fmtRate(last?.published)}/s</div><div class="sub">acknowledged by the sink</div></div>
      <div class="card"><div class="label">Pipeline queue</div><div class="value">${fmtInt(last?.queueEvents ?? 0)}</div><div class="sub">events in flight (${fmtInt(last?.queueBatches ?? 0)} batches)</div></div>
      <div class="card"><div class="label">Data freshness</div><div class="value">${ago(freshest, now)}</div><div class="sub">last successful poll · last detection ${ago(ov?.lastPublishedAt, now)}</div></div>
      <div class="card"><div class="label">Readiness</div><div class="value"><span class=${`badge ${ov?.ready ? 'ok' : 'bad'}`}>${ov ? (ov.ready ? 'ready' : 'not ready') : '…'}</span></div><div class="sub">${
        ov
          ? Object.entries(ov.checks)
              .filter(([, c]) => !c.ok)
              .map(([k, c]) => `${k}: ${c.detail ?? 'failing'}`)
              .join('; ') || 'all checks pass'
          : ''
      }</div></div>
    </div>
    <section class="panel" aria-labelledby="rates-h"><h2 id="rates-h">Rates, last 15 minutes</h2><${RateChart} samples=${st.samples} /></section>
    <section class="panel" aria-labelledby="collectors-h">
      <h2 id="collectors-h">Collectors</h2>
      <div class="toolbar">
        <label for="collector-filter">Filter</label>
        <input id="collector-filter" type="search" placeholder="id, plugin or error code" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
        <label for="state-filter">State</label>
        <select id="state-filter" value=${stateFilter} onChange=${(e) => setStateFilter(e.currentTarget.value)}>
          <option value="">any</option>
          ${['running', 'degraded', 'restarting', 'paused', 'stopped', 'failed', 'starting', 'stopping', 'idle'].map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
        <span class="muted small">${shown.length} of ${rows.length} shown</span>
      </div>
      <table id="collectors-table">
        <thead><tr>
          ${COLUMNS.map(
            (c) => html`<th class=${c.num ? 'num' : ''} scope="col" aria-sort=${sort.key === c.key ? (sort.dir > 0 ? 'ascending' : 'descending') : undefined}>
              ${c.nosort ? c.label : html`<button class="sort" onClick=${() => toggle(c.key)}>${c.label}${sort.key === c.key ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</button>`}
            </th>`,
          )}
        </tr></thead>
        <tbody>
          ${shown.map(
            (r) => html`<tr data-collector=${r.id}>
              <td><a href=${`#/collector/${encodeURIComponent(r.id)}`}>${r.id}</a><div class="small muted">${r.kind} · ${r.plugin}</div></td>
              <td><span class=${`badge state-${r.state}`} data-testid="state">${r.state}</span>${r.health === 'degraded' || r.health === 'unhealthy' ? html` <span class=${`badge health-${r.health}`} data-testid="health">${r.health}</span>` : ''}</td>
              <td title=${r.since}>${ago(r.since, now)}</td>
              <td class="num">${fmtRate(r.in)}</td>
              <td class="num">${fmtRate(r.out)}</td>
              <td><${Sparkline} points=${lastRates(st.samples, r.id)} label=${`events per second in and out for ${r.id}, last 3 minutes`} /></td>
              <td>${r.checkpointUpdatedAt ? ago(r.checkpointUpdatedAt, now) : html`<span class="muted">none yet</span>`}<div class="small muted">${r.inFlight ? `${fmtInt(r.inFlight)} events unacknowledged` : ''}</div></td>
              <td data-testid="last-error">${
                r.lastError
                  ? html`<span class="errcode">${r.lastError.code}</span> <span class="small">${r.lastError.message}</span>${r.lastError.count > 1 ? html` <span class="small muted">×${r.lastError.count}</span>` : ''}<div class="action">${SUGGESTED[r.lastError.code] ?? 'See the server log for details.'}</div>`
                  : r.reason && r.state !== 'running'
                    ? html`<span class="small">${r.reason}</span>`
                    : html`<span class="muted">none</span>`
              }</td>
              <td class="num" data-testid="restarts">${budget ? `${r.restarts} / ${budget.intensity}` : r.restarts}<div class="small muted">${budget ? `budget per ${budget.periodSeconds}s · ` : ''}${r.restartCount ?? 0} in total</div></td>
            </tr>`,
          )}
        </tbody>
      </table>
    </section>
    ${st.error ? html`<p class="error" role="alert">${st.error}</p>` : ''}
  </main>`;
}

// ---------------------------------------------------------------------------------------------
// Collector page

const LAYOUT = {
  idle: [80, 50],
  starting: [260, 50],
  running: [470, 50],
  degraded: [680, 50],
  restarting: [260, 190],
  paused: [470, 190],
  stopping: [680, 190],
  failed: [260, 320],
  stopped: [470, 320],
};

function MachineGraph({ graph }) {
  const pos = {};
  graph.states.forEach((s, i) => (pos[s.name] = LAYOUT[s.name] ?? [80 + (i % 4) * 200, 400 + Math.floor(i / 4) * 90]));
  const edges = [];
  const seen = new Map();
  for (const s of graph.states) {
    for (const t of s.transitions) {
      if (t.target === s.name || !pos[t.target]) continue;
      const key = `${s.name}>${t.target}`;
      if (seen.has(key)) {
        seen.get(key).events.push(t.event);
        continue;
      }
      const e = { from: s.name, to: t.target, events: [t.event] };
      seen.set(key, e);
      edges.push(e);
    }
  }
  const height = Math.max(380, ...Object.values(pos).map((p) => p[1] + 50));
  return html`<svg class="machine" viewBox=${`0 0 780 ${height}`} role="img" aria-label=${`State machine of the collector; current state ${graph.current}`}>
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path class="arrow" d="M0,0 L10,5 L0,10 z" /></marker></defs>
    ${edges.map((e) => {
      const [x1, y1] = pos[e.from];
      const [x2, y2] = pos[e.to];
      // Two edges between the same pair run on either side of the straight line.
      const back = seen.has(`${e.to}>${e.from}`) ? 14 : 0;
      const dx = x2 - x1;
      const dy = y2 - y1;
      const len = Math.hypot(dx, dy) || 1;
      const nx = (-dy / len) * back;
      const ny = (dx / len) * back;
      const sx = x1 + (dx / len) * 55 + nx;
      const sy = y1 + (dy / len) * 22 + ny;
      const ex = x2 - (dx / len) * 58 + nx;
      const ey = y2 - (dy / len) * 24 + ny;
      const command = e.events.some((ev) => COMMAND_EVENTS[ev]);
      const live = e.from === graph.current;
      return html`<g>
        <line class=${`edge${command ? ' command' : ''}${live ? ' live' : ''}`} x1=${sx} y1=${sy} x2=${ex} y2=${ey} marker-end="url(#arrow)" />
        <text class="elabel" x=${(sx + ex) / 2 + nx * 0.6} y=${(sy + ey) / 2 + ny * 0.6 - 3}>${e.events.slice(0, 2).join(', ')}${e.events.length > 2 ? '…' : ''}</text>
      </g>`;
    })}
    ${graph.states.map((s) => {
      const [x, y] = pos[s.name];
      return html`<g class=${`node${s.name === graph.current ? ' current' : ''}`} data-state=${s.name}>
        <rect x=${x - 55} y=${y - 20} width="110" height="40" rx="8" />
        <text x=${x} y=${y}>${s.name}</text>
      </g>`;
    })}
  </svg>`;
}

function CollectorPage({ instance, id }) {
  const st = useInstance(instance);
  const [detail, setDetail] = useState();
  const [graph, setGraph] = useState();
  const [transitions, setTransitions] = useState([]);
  const [error, setError] = useState();
  const [confirming, setConfirming] = useState();
  const [result, setResult] = useState();
  const [busy, setBusy] = useState(false);
  const summary = st.collectors.get(id);
  const version = `${st.transitionsSeen.get(id) ?? 0}|${summary?.state}|${summary?.since}`;
  useEffect(() => {
    let live = true;
    const path = `/collectors/${encodeURIComponent(id)}`;
    Promise.all([instance.api.get(path), instance.api.get(`${path}/machine`), instance.api.get(`${path}/transitions?limit=50`)])
      .then(([d, g, t]) => {
        if (!live) return;
        setDetail(d);
        setGraph(g);
        setTransitions(t.transitions);
        setError(undefined);
      })
      .catch((err) => live && !(err instanceof AuthLost) && setError(err.message));
    return () => {
      live = false;
    };
  }, [id, version]);
  if (error) return html`<main class="view"><h1>Collector ${id}</h1><p class="error" role="alert">${error}</p><p><a href="#/">Back to the overview</a></p></main>`;
  if (!detail || !graph) return html`<main class="view"><h1>Collector ${id}</h1><p class="muted">Loading…</p></main>`;
  const state = graph.current;
  const allowed = new Set((graph.states.find((s) => s.name === state)?.transitions ?? []).map((t) => COMMAND_EVENTS[t.event]).filter(Boolean));
  const commands = COMMAND_ORDER.filter((c) => allowed.has(c));
  const canWriteCheckpoint = ['stopped', 'idle', 'failed'].includes(state);
  const run = async (label, fn) => {
    setBusy(true);
    setConfirming(undefined);
    try {
      const answer = await fn();
      setResult({ ok: true, text: `${label}: ${answer}` });
    } catch (err) {
      if (!(err instanceof AuthLost)) setResult({ ok: false, text: `${label} refused${err.body?.code ? ` (${err.body.code})` : ''}: ${err.message}` });
    } finally {
      setBusy(false);
    }
  };
  const doCommand = (c) =>
    run(c, async () => {
      const r = await instance.api.send('POST', `/collectors/${encodeURIComponent(id)}/${c}`);
      return `accepted, collector is ${r.state}`;
    });
  const doReset = () =>
    run('reset checkpoint', async () => {
      await instance.api.send('DELETE', `/collectors/${encodeURIComponent(id)}/checkpoint`);
      return 'checkpoint removed; the collector starts from the beginning of its source at next start';
    });
  const desc = Object.entries(detail.description ?? {});
  return html`<main class="view" id="collector-page">
    <p class="small"><a href="#/">Overview</a> › ${id}</p>
    <h1>Collector ${id} <span class=${`badge state-${state}`} data-testid="collector-state">${state}</span></h1>
    <div class="grid2">
      <section class="panel" aria-labelledby="machine-h">
        <h2 id="machine-h">State machine</h2>
        <${MachineGraph} graph=${graph} />
        <h2>Commands</h2>
        <div class="commands">
          ${commands.length === 0 ? html`<span class="muted">No command is accepted while the collector is ${state}.</span>` : ''}
          ${commands.map((c) => html`<button class=${c === 'stop' ? 'danger' : ''} disabled=${busy} onClick=${() => setConfirming({ kind: 'command', command: c })} data-command=${c}>${c[0].toUpperCase() + c.slice(1)}</button>`)}
        </div>
        ${
          confirming
            ? html`<div class="confirm" role="alertdialog" aria-labelledby="confirm-text">
              <span id="confirm-text">${confirming.kind === 'reset' ? `Reset the checkpoint of ${id}? It will read its source again from the start.` : `${confirming.command[0].toUpperCase() + confirming.command.slice(1)} collector ${id}?`}</span>
              <button onClick=${() => (confirming.kind === 'reset' ? doReset() : doCommand(confirming.command))} data-confirm="yes">Confirm</button>
              <button class="secondary" onClick=${() => setConfirming(undefined)}>Cancel</button>
            </div>`
            : ''
        }
        <p class="result" role="status" aria-live="polite" data-testid="command-result">${result ? html`<span class=${result.ok ? '' : 'error'}>${result.text}</span>` : ''}</p>
      </section>
      <section class="panel" aria-labelledby="timeline-h">
        <h2 id="timeline-h">Transitions</h2>
        <ol class="timeline" reversed data-testid="timeline">
          ${[...transitions]
            .reverse()
            .map(
              (t) =>
                html`<li data-to=${t.to}><span class="when">${time(t.at)}</span> <span class=${`badge state-${t.from}`}>${t.from}</span> → <span class=${`badge state-${t.to}`}>${t.to}</span> <span class="small mono">${t.event}</span>${t.reason ? html`<div class="small muted">${t.reason}</div>` : ''}</li>`,
            )}
        </ol>
      </section>
    </div>
    <div class="grid2">
      <section class="panel" aria-labelledby="desc-h">
        <h2 id="desc-h">Configuration</h2>
        <p class="small muted">What the plugin reports about its target; secrets are never part of it.</p>
        <dl class="kv">
          <dt>Plugin</dt><dd>${detail.plugin} ${detail.pluginVersion}</dd>
          <dt>Kind</dt><dd>${detail.kind}</dd>
          ${desc.map(([k, v]) => html`<dt>${k}</dt><dd class="mono">${Array.isArray(v) ? v.join(', ') : String(v)}</dd>`)}
        </dl>
        <h2>Counters</h2>
        <dl class="kv">
          <dt>Collected</dt><dd>${fmtInt(detail.metrics.eventsCollected)}</dd>
          <dt>Published</dt><dd>${fmtInt(detail.metrics.eventsPublished)}</dd>
          <dt>Duplicates dropped</dt><dd>${fmtInt(detail.metrics.eventsDeduplicated)}</dd>
          <dt>Polls / errors</dt><dd>${fmtInt(detail.metrics.polls)} / ${fmtInt(detail.metrics.pollErrors)}</dd>
          <dt>Restarts</dt><dd>${detail.restartCount} in total${st.overview?.restartBudget ? `; ${st.overview.collectors.find((c) => c.id === id)?.restartsInPeriod ?? 0} of the budget of ${st.overview.restartBudget.intensity} per ${st.overview.restartBudget.periodSeconds}s used` : ''}</dd>
          <dt>Last successful poll</dt><dd>${ago(detail.metrics.lastSuccessAt)}</dd>
        </dl>
        ${
          detail.resources
            ? html`<h2>Runs in</h2>
              <dl class="kv" data-testid="resources">
                <dt>Isolation</dt><dd>${detail.resources.isolation === 'worker' ? `its own worker thread${detail.resources.threadId !== undefined ? ` (#${detail.resources.threadId})` : ''}` : 'the host thread (inline)'}</dd>
                ${
                  detail.resources.heapUsedBytes !== undefined
                    ? html`<dt>Heap</dt><dd>${fmtMb(detail.resources.heapUsedBytes)} of ${fmtMb(detail.resources.heapLimitBytes)}</dd>
                      <dt>Event loop busy</dt><dd>${Math.round((detail.resources.eventLoopUtilization ?? 0) * 100)} %</dd>
                      <dt>Busy time</dt><dd>${((detail.resources.busyMs ?? 0) / 1000).toFixed(1)} s</dd>`
                    : ''
                }
              </dl>`
            : ''
        }
        ${
          detail.lastError
            ? html`<h2>Last error</h2><p data-testid="detail-error"><span class="errcode">${detail.lastError.code}</span> ${detail.lastError.message} <span class="small muted">(×${detail.lastError.count} since ${time(detail.lastError.since)}${detail.lastError.retriable ? ', retried automatically' : ', not retriable'})</span></p><p class="action">${SUGGESTED[detail.lastError.code] ?? 'See the server log for details.'}</p>`
            : ''
        }
      </section>
      <section class="panel" aria-labelledby="cp-h">
        <h2 id="cp-h">Checkpoint</h2>
        <p class="small muted">${detail.checkpoint.updatedAt ? `Committed ${ago(detail.checkpoint.updatedAt)} (${time(detail.checkpoint.updatedAt)})` : 'No checkpoint committed yet.'}</p>
        <pre>${detail.checkpoint.value === undefined ? '—' : JSON.stringify(detail.checkpoint.value, null, 2)}</pre>
        <button class="danger" disabled=${!canWriteCheckpoint || busy || detail.checkpoint.value === undefined} onClick=${() => setConfirming({ kind: 'reset' })}>Reset checkpoint</button>
        ${canWriteCheckpoint ? '' : html`<p class="small muted">Stop the collector to reset its checkpoint.</p>`}
      </section>
    </div>
  </main>`;
}

// ---------------------------------------------------------------------------------------------
// Detections

function Evidence({ d, instance, canMark }) {
  const [marked, setMarked] = useState({});
  if (!d.reputation) return html`<span class="muted small">not enriched</span>`;
  const mark = async (i) => {
    const key = `${i.type}:${i.value}`;
    try {
      await instance.api.send('POST', '/false-positives', { indicator: { type: i.type, value: i.value }, reason: `marked from the dashboard (rule ${d.rule})` });
      setMarked((m) => ({ ...m, [key]: 'marked as false positive' }));
    } catch (err) {
      if (!(err instanceof AuthLost)) setMarked((m) => ({ ...m, [key]: `refused: ${err.message}` }));
    }
  };
  return html`<div>
    <span class=${`badge verdict-${d.reputation.verdict}`}>${d.reputation.verdict}${d.reputation.score !== undefined ? ` ${d.reputation.score}` : ''}</span>
    ${d.reputation.explanation ? html`<div class="evidence">${d.reputation.explanation}</div>` : ''}
    <ul class="evidence">
      ${d.reputation.indicators.map((i) => {
        const key = `${i.type}:${i.value}`;
        return html`<li><span class="mono">${i.type} ${i.value}</span> <span class=${`badge verdict-${i.verdict}`}>${i.verdict}</span>
          ${canMark ? (marked[key] ? html` <span class="small">${marked[key]}</span>` : html` <button class="link" data-mark=${key} onClick=${() => mark(i)}>mark false positive</button>`) : ''}</li>`;
      })}
    </ul>
  </div>`;
}

function DetectionRow({ d, byId, instance, canMark }) {
  const [open, setOpen] = useState(false);
  const members = d.members ?? [];
  return html`
    <tr class=${d.kind === 'correlation' ? 'alert-row' : ''} data-detection=${d.id}>
      <td class="small">${time(d.at)}</td>
      <td><span class=${`badge prio-${d.priority}`}>${d.priority}</span></td>
      <td>${d.kind === 'correlation' ? html`<strong>correlation</strong> ` : ''}<span class="mono">${d.rule}</span>${d.title ? html`<div class="small muted">${d.title}</div>` : ''}
        ${members.length ? html`<div><button class="link" aria-expanded=${open} onClick=${() => setOpen(!open)}>${open ? 'hide' : 'show'} ${members.length} member detection${members.length > 1 ? 's' : ''}</button></div>` : ''}</td>
      <td class="small mono">${d.techniques.join(' ')}</td>
      <td class="mono">${d.sourceIp ?? ''}</td>
      <td>${d.userName ?? ''}</td>
      <td>${d.collector}</td>
      <td><${Evidence} d=${d} instance=${instance} canMark=${canMark} /></td>
    </tr>
    ${
      open
        ? html`<tr class="members"><td colspan="8"><ul>
          ${members.map((m) => {
            const x = byId.get(m);
            return html`<li>${x ? html`<span class=${`badge prio-${x.priority}`}>${x.priority}</span> <span class="mono">${x.rule}</span> ${x.sourceIp ?? ''} ${x.userName ?? ''} <span class="small muted">${time(x.at)} · ${x.collector}</span><div class="small mono">${x.message ?? ''}</div>` : html`<span class="mono">${m}</span> <span class="small muted">(no longer in the feed's buffer)</span>`}</li>`;
          })}
        </ul></td></tr>`
        : ''
    }`;
}

function Detections({ instance }) {
  const st = useInstance(instance);
  const [paused, setPaused] = useState(undefined);
  const [prio, setPrio] = useState('');
  const [rule, setRule] = useState('');
  const [collector, setCollector] = useState('');
  const all = st.detections;
  const list = paused ?? all;
  const byId = useMemo(() => new Map(all.map((d) => [d.id, d])), [all]);
  const rules = useMemo(() => [...new Set(all.map((d) => d.rule))].sort(), [all]);
  const collectors = useMemo(() => [...new Set(all.map((d) => d.collector))].sort(), [all]);
  const shown = list
    .filter((d) => (!prio || d.priority === prio) && (!rule || d.rule === rule) && (!collector || d.collector === collector))
    .slice(-200)
    .reverse();
  const waiting = paused ? all.filter((d) => d.seq > (paused[paused.length - 1]?.seq ?? 0)).length : 0;
  const canMark = st.overview?.enrichment.enabled === true;
  return html`<main class="view" id="detections">
    <h1>Detections</h1>
    <div class="toolbar">
      <label for="f-prio">Priority</label>
      <select id="f-prio" value=${prio} onChange=${(e) => setPrio(e.currentTarget.value)}><option value="">any</option>${PRIORITIES.map((p) => html`<option value=${p}>${p}</option>`)}</select>
      <label for="f-rule">Rule</label>
      <select id="f-rule" value=${rule} onChange=${(e) => setRule(e.currentTarget.value)}><option value="">any</option>${rules.map((r) => html`<option value=${r}>${r}</option>`)}</select>
      <label for="f-coll">Collector</label>
      <select id="f-coll" value=${collector} onChange=${(e) => setCollector(e.currentTarget.value)}><option value="">any</option>${collectors.map((c) => html`<option value=${c}>${c}</option>`)}</select>
      <button class="secondary" onClick=${() => setPaused(paused ? undefined : all)} aria-pressed=${paused !== undefined} data-testid="pause">${paused ? `Resume (${waiting} new)` : 'Pause'}</button>
      <span class="muted small">${shown.length} shown · newest first · ${all.length} kept</span>
    </div>
    <table id="detections-table">
      <thead><tr><th scope="col">Time</th><th scope="col">Priority</th><th scope="col">Rule</th><th scope="col">ATT&CK</th><th scope="col">source.ip</th><th scope="col">user.name</th><th scope="col">Collector</th><th scope="col">Enrichment</th></tr></thead>
      <tbody>${shown.map((d) => html`<${DetectionRow} key=${d.seq} d=${d} byId=${byId} instance=${instance} canMark=${canMark} />`)}</tbody>
    </table>
    ${shown.length === 0 ? html`<p class="muted">No detections yet${prio || rule || collector ? ' matching the filters' : ''}.</p>` : ''}
  </main>`;
}

// ---------------------------------------------------------------------------------------------
// Enrichment

function Enrichment({ instance }) {
  const st = useInstance(instance);
  const en = st.overview?.enrichment;
  return html`<main class="view" id="enrichment">
    <h1>Enrichment</h1>
    ${
      !en
        ? html`<p class="muted">Loading…</p>`
        : !en.enabled
          ? html`<div class="panel"><p>Enrichment is not enabled on this instance (<code>enrichment.enabled: false</code>). See <code>examples/enrichment.yaml</code> for a configuration with threat-intel sources.</p></div>`
          : en.sources.length === 0
            ? html`<div class="panel"><p>Enrichment is enabled but no threat-intel source is configured (the <code>enrichers:</code> section of the config). See <code>examples/enrichment.yaml</code>. Indicators can still be marked as false positives from the detection feed.</p></div>`
            : html`<table id="enrichment-table">
            <thead><tr><th scope="col">Source</th><th scope="col">Health</th><th scope="col" class="num">Requests, last minute (of quota)</th><th scope="col" class="num">Requests today, UTC (of quota)</th><th scope="col" class="num">Total / errors</th><th scope="col" class="num">Queue</th><th scope="col" class="num">Cache hit rate</th></tr></thead>
            <tbody>${en.sources.map((s) => {
              const lookups = s.cacheHits + s.cacheMisses;
              return html`<tr>
                <td>${s.id}</td>
                <td>${s.state ? html`<span class=${`badge state-${s.state}`}>${s.state}</span> ` : ''}${s.health ? html`<span class=${`badge health-${s.health}`}>${s.health}</span>` : ''}</td>
                <td class="num" data-testid="per-minute">${fmtInt(s.requestsLastMinute)}${s.perMinuteLimit !== undefined ? ` of ${fmtInt(s.perMinuteLimit)}` : ''}</td>
                <td class="num" data-testid="per-day">${fmtInt(s.dailyBudgetUsed)}${s.perDayLimit !== undefined ? ` of ${fmtInt(s.perDayLimit)}` : ' (no daily quota)'}</td>
                <td class="num">${fmtInt(s.requestsTotal)} / ${fmtInt(s.errorsTotal)}</td>
                <td class="num">${fmtInt(s.queue)}</td>
                <td class="num">${lookups ? `${Math.round((s.cacheHits / lookups) * 100)}% of ${fmtInt(lookups)}` : '–'}</td>
              </tr>`;
            })}</tbody>
          </table>
          <p class="small muted">Quotas are the limits the rate limiter enforces for each source (the plugin's, or <code>requests_per_minute</code> / <code>requests_per_day</code> in its config). Per minute comes from the server's rate history, per day from the daily budget counter.</p>`
    }
  </main>`;
}

// ---------------------------------------------------------------------------------------------
// Shell

function App({ base }) {
  const instance = useMemo(() => createInstance(base), [base]);
  const [failed, setFailed] = useState();
  const hash = useHash();
  const st = useInstance(instance);
  useEffect(() => {
    const off = instance.api.onAuthLost(() => location.assign('/ui/login'));
    instance.start().catch((err) => !(err instanceof AuthLost) && setFailed(err.message));
    return () => {
      off();
      instance.close();
    };
  }, [instance]);
  const route = hash.replace(/^#/, '');
  let view;
  let current = 'overview';
  if (route.startsWith('/collector/')) {
    current = 'overview';
    view = html`<${CollectorPage} instance=${instance} id=${decodeURIComponent(route.slice('/collector/'.length))} />`;
  } else if (route === '/detections') {
    current = 'detections';
    view = html`<${Detections} instance=${instance} />`;
  } else if (route === '/enrichment') {
    current = 'enrichment';
    view = html`<${Enrichment} instance=${instance} />`;
  } else view = html`<${Overview} instance=${instance} />`;
  const link = (name, href, label) => html`<a href=${href} aria-current=${current === name ? 'page' : undefined}>${label}</a>`;
  return html`<div>
    <header class="top">
      <span class="brand">Reactive Fabric</span>
      <nav aria-label="Dashboard views">${link('overview', '#/', 'Overview')}${link('detections', '#/detections', 'Detections')}${link('enrichment', '#/enrichment', 'Enrichment')}</nav>
      <span class="conn" role="status" data-testid="connection">${st.connected ? 'live' : 'connecting…'}</span>
      <button onClick=${() => instance.api.logout()} data-testid="logout">Log out</button>
    </header>
    ${failed ? html`<main class="view"><p class="error" role="alert">The dashboard could not load: ${failed}</p></main>` : view}
  </div>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} base="" />`, root);
