// The PathProx browser demo: the engine (../src, compiled to wasm32 by web/build.sh) trains weight decay
// and PathProx side by side on WebGPU; this file draws and steers. Plain ES module, no dependencies.
//
// Test mode (web/test_browser.py): index.html?test=1&steps=N&every=M&seed=S[&mnist=K] runs exactly N toy
// steps with the default settings, snapshots at step 0 and every M steps, then (when K > 0) K Task-1 steps,
// and sets the JSON in <pre id="state"> to status "done" (or "error" with the message).

import init, { Engine, ToyDemo, MnistDemo, toy_defaults } from './pkg/pathprox.js';

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const TEST = query.get('test') === '1';
const intParam = (name, dflt) => {
  const v = query.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad ?${name}=${v}: expected a whole number`);
  return n;
};

const COLORS = { wd: '#d95f02', pathprox: '#1b73b3' };
const CLASS = ['#2563eb', '#dc2626'];
const methodColor = (name, i) => COLORS[name] ?? ['#d95f02', '#1b73b3', '#7570b3', '#66a61e'][i % 4];
const errorMessage = (e) => (e && e.message) ? e.message : String(e);

// ---------------------------------------------------------------------------------------------------
// The state the tests read.

const state = { status: 'loading', error: null, adapter: '', steps: 0, steps_per_s: 0, methods: [], mnist: null };
let stateDirty = true;
let lastStateWrite = 0;

function writeState(force = false) {
  const now = performance.now();
  // Interactive mode: the history grows; serialising it every frame would cost more than drawing.
  if (!force && !TEST && now - lastStateWrite < 500) { stateDirty = true; return; }
  $('state').textContent = JSON.stringify(state);
  lastStateWrite = now;
  stateDirty = false;
}

function fail(e, banner = true) {
  console.error(e);
  if (state.status === 'error') return;
  state.status = 'error';
  state.error = errorMessage(e);
  writeState(true);
  if (!banner) return;
  const box = $('fatal') ?? document.createElement('div');
  box.id = 'fatal';
  box.className = 'fatal';
  box.textContent = `Error: ${state.error}`;
  document.querySelector('header').appendChild(box);
}

window.addEventListener('error', (ev) => fail(ev.error ?? ev.message));
window.addEventListener('unhandledrejection', (ev) => fail(ev.reason));

function noWebGpu(reason) {
  $('nogpu').hidden = false;
  $('nogpu-reason').textContent = reason;
  document.body.classList.add('no-webgpu');
  for (const el of document.querySelectorAll('.views, .plots')) {
    const note = document.createElement('p');
    note.className = 'nogpu-note';
    note.textContent = 'Nothing to draw: this browser gives the page no WebGPU device (see the message at the top).';
    el.replaceChildren(note);
  }
  for (const el of document.querySelectorAll('input, select, button')) el.disabled = true;
  fail(new Error(reason), false);
}

// ---------------------------------------------------------------------------------------------------
// Plots: lines over steps, linear or log y.

function niceStep(span, count) {
  const raw = span / Math.max(count, 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

function fmt(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(+v.toPrecision(3));
}

// series: [{label, color, points: [[x, y], ...]}]
function plot(canvas, series, { log = false, ymin = null, ymax = null, ylabel = '' } = {}) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height;
  const m = { l: 62, r: 14, t: 14, b: 36 };
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0));
  ctx.font = '12px system-ui, sans-serif';
  if (pts.length === 0) {
    ctx.fillStyle = '#888';
    ctx.fillText('no data yet', W / 2 - 30, H / 2);
    return;
  }
  let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
  if (x1 <= x0) x1 = x0 + 1;
  let y0 = ymin ?? Math.min(...pts.map((p) => p[1])), y1 = ymax ?? Math.max(...pts.map((p) => p[1]));
  const ty = log ? Math.log10 : (v) => v;
  let ly0 = ty(y0), ly1 = ty(y1);
  if (ly1 - ly0 < 1e-9) { ly0 -= log ? 0.5 : Math.max(Math.abs(ly0) * 0.1, 0.5); ly1 += log ? 0.5 : Math.max(Math.abs(ly1) * 0.1, 0.5); }
  else { const pad = (ly1 - ly0) * 0.05; ly0 -= pad; ly1 += pad; }
  const X = (x) => m.l + (x - x0) / (x1 - x0) * (W - m.l - m.r);
  const Y = (y) => H - m.b - (ty(y) - ly0) / (ly1 - ly0) * (H - m.t - m.b);

  // Grid and ticks.
  ctx.strokeStyle = '#e5e7eb';
  ctx.fillStyle = '#555';
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  const yticks = [];
  if (log) {
    const d0 = Math.floor(ly0), d1 = Math.ceil(ly1);
    // Decades; within less than a few of them, also 2 and 5 (or every digit) times them.
    for (const mults of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      yticks.length = 0;
      for (let d = d0; d <= d1; d++) for (const k of mults) { const v = k * 10 ** d; if (Math.log10(v) >= ly0 && Math.log10(v) <= ly1) yticks.push(v); }
      if (yticks.length >= 3) break;
    }
    if (yticks.length < 3) {
      // Less than a factor of two: evenly spaced values.
      yticks.length = 0;
      const [a, b] = [10 ** ly0, 10 ** ly1], st = niceStep(b - a, 4);
      for (let v = Math.ceil(a / st) * st; v <= b; v += st) yticks.push(+v.toPrecision(12));
    }
  } else {
    const st = niceStep(ly1 - ly0, 5);
    for (let v = Math.ceil(ly0 / st) * st; v <= ly1 + 1e-12; v += st) yticks.push(+v.toPrecision(12));
  }
  for (const v of yticks) {
    const y = Y(v);
    ctx.beginPath(); ctx.moveTo(m.l, y); ctx.lineTo(W - m.r, y); ctx.stroke();
    ctx.fillText(fmt(v), m.l - 6, y);
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const xs = niceStep(x1 - x0, 6);
  for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-9; v += xs) {
    const x = X(v);
    ctx.beginPath(); ctx.moveTo(x, m.t); ctx.lineTo(x, H - m.b); ctx.stroke();
    ctx.fillText(fmt(v), x, H - m.b + 5);
  }
  ctx.fillText('steps', (m.l + W - m.r) / 2, H - 16);
  if (ylabel) {
    ctx.save(); ctx.translate(14, (m.t + H - m.b) / 2); ctx.rotate(-Math.PI / 2); ctx.fillText(ylabel, 0, -6); ctx.restore();
  }
  ctx.strokeStyle = '#9ca3af';
  ctx.strokeRect(m.l, m.t, W - m.l - m.r, H - m.t - m.b);

  // Lines, then the legend.
  ctx.save();
  ctx.beginPath(); ctx.rect(m.l, m.t, W - m.l - m.r, H - m.t - m.b); ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    let first = true;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y) || (log && y <= 0)) { first = true; continue; }
      if (first) ctx.moveTo(X(x), Y(y)); else ctx.lineTo(X(x), Y(y));
      first = false;
    }
    ctx.stroke();
    if (s.points.length === 1) { const [x, y] = s.points[0]; ctx.fillStyle = s.color; ctx.fillRect(X(x) - 2, Y(y) - 2, 4, 4); }
  }
  ctx.restore();
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  let ly = m.t + 12;
  for (const s of series) {
    ctx.fillStyle = s.color;
    ctx.fillRect(W - m.r - 150, ly - 2, 18, 4);
    ctx.fillStyle = '#222';
    ctx.fillText(s.label, W - m.r - 126, ly);
    ly += 18;
  }
}

// History of a run: per method, [step, value] pairs; thinned to at most LIMIT points (interactive mode).
const LIMIT = 1500;
function record(hist, snap) {
  for (const [i, m] of snap.methods.entries()) {
    let h = hist[i];
    if (!h || h.name !== m.name) h = hist[i] = { name: m.name, label: m.label, objective: [], active_units: [] };
    const last = h.objective[h.objective.length - 1];
    if (last && last[0] === snap.step) continue;
    h.objective.push([snap.step, m.objective]);
    h.active_units.push([snap.step, m.active_units]);
    if (!TEST && h.objective.length > LIMIT) {
      // Keep the first point and every other one after it.
      h.objective = h.objective.filter((_, j) => j === 0 || j % 2 === 1);
      h.active_units = h.active_units.filter((_, j) => j === 0 || j % 2 === 1);
    }
  }
}

function drawHistory(hist, objCanvas, activeCanvas) {
  const ser = (key) => hist.map((h, i) => ({ label: h.label ?? h.name, color: methodColor(h.name, i), points: h[key] }));
  plot(objCanvas, ser('objective'), { log: true, ylabel: 'objective' });
  plot(activeCanvas, ser('active_units'), { ymin: 0, ymax: 100, ylabel: 'active units %' });
}

// Steps per second over a sliding window of (time, steps) samples.
class Rate {
  constructor(seconds = 3) { this.window = seconds * 1000; this.samples = []; }
  add(steps) {
    const t = performance.now();
    this.samples.push([t, steps]);
    while (this.samples.length > 2 && t - this.samples[0][0] > this.window) this.samples.shift();
  }
  reset() { this.samples = []; }
  get value() {
    if (this.samples.length < 2) return 0;
    const [t0, s0] = this.samples[0], [t1, s1] = this.samples[this.samples.length - 1];
    return t1 > t0 ? (s1 - s0) / ((t1 - t0) / 1000) : 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// The toy panel.

const VIEW = 420; // canvas pixels per side of a decision-region view

class ToyPanel {
  constructor(engine) {
    this.engine = engine;
    this.defaults = JSON.parse(toy_defaults());
    this.grid = 100;
    this.toy = null;
    this.views = new Map(); // method name -> {canvas, stats}
    this.hist = [];
    this.rate = new Rate();
    this.paused = false;
    this.busy = false;
    this.stepOnce = false;
    this.visible = true;
    this.snap = null;
    this.k = 10;
  }

  settings() {
    const d = this.defaults;
    return {
      dataset: $('dataset').value || d.dataset,
      noise: +$('noise').value,
      outliers: +$('outliers').value,
      width: +$('width').value,
      lr: 10 ** +$('lr').value,
      lambda: 10 ** +$('lambda').value,
      points: d.points,
      seed: d.seed,
    };
  }

  initControls() {
    const d = this.defaults;
    const setSelect = (id, v) => {
      const sel = $(id);
      if (![...sel.options].some((o) => o.value === String(v))) sel.add(new Option(String(v), String(v)));
      sel.value = String(v);
    };
    setSelect('dataset', d.dataset);
    setSelect('width', d.width);
    $('noise').value = d.noise;
    $('outliers').max = Math.max(20, d.outliers);
    $('outliers').value = d.outliers;
    $('lambda').value = Math.log10(d.lambda);
    $('lr').value = Math.log10(d.lr);
    const show = () => {
      const s = this.settings();
      $('noise-out').textContent = s.noise.toFixed(2);
      $('outliers-out').textContent = s.outliers;
      $('lambda-out').textContent = s.lambda.toPrecision(2);
      $('lr-out').textContent = s.lr.toPrecision(2);
      $('k-out').textContent = $('k').value;
      this.k = +$('k').value;
    };
    show();
    for (const id of ['noise', 'outliers', 'lambda', 'lr', 'k']) $(id).addEventListener('input', show);
    // The data and the network: a new problem. The rates: applied to the running one.
    for (const id of ['dataset', 'noise', 'outliers', 'width']) $(id).addEventListener('change', () => this.reset());
    for (const id of ['lambda', 'lr']) $(id).addEventListener('input', () => {
      const s = this.settings();
      this.toy?.set_rates(s.lr, s.lambda);
    });
    $('pause').addEventListener('click', () => {
      this.paused = !this.paused;
      $('pause').textContent = this.paused ? 'run' : 'pause';
      $('pause').classList.toggle('on', this.paused);
    });
    $('step').addEventListener('click', () => { this.stepOnce = true; });
    $('reset').addEventListener('click', () => this.reset());
    // Stop stepping while the panel is scrolled out of sight (the GPU is shared with Task 1).
    new IntersectionObserver((es) => { this.visible = es.some((e) => e.isIntersecting); }).observe($('toy'));
  }

  create(settings) {
    this.toy?.free();
    this.toy = null;
    this.toy = ToyDemo.create(this.engine, JSON.stringify(settings));
    this.hist = [];
    this.rate.reset();
  }

  reset() {
    if (this.busy) { this.resetPending = true; return; }
    try {
      this.create(this.settings());
      this.snap = null;
    } catch (e) {
      // Bad settings (the engine validates them): say so, keep the old problem.
      this.message(`cannot start: ${errorMessage(e)}`);
    }
  }

  message(text) {
    for (const v of this.views.values()) v.stats.textContent = text;
  }

  ensureViews(snap) {
    if (this.views.size === snap.methods.length && snap.methods.every((m) => this.views.has(m.name))) return;
    const box = $('toy-views');
    box.replaceChildren();
    this.views.clear();
    for (const m of snap.methods) {
      const fig = document.createElement('figure');
      fig.className = 'view';
      const title = document.createElement('figcaption');
      title.className = 'view-title';
      title.textContent = m.label ?? m.name;
      const canvas = document.createElement('canvas');
      canvas.className = 'region';
      canvas.id = `canvas-${m.name}`;
      canvas.width = VIEW;
      canvas.height = VIEW;
      canvas.title = 'click: add a point of the selected class';
      canvas.addEventListener('click', (ev) => this.click(canvas, ev));
      const stats = document.createElement('div');
      stats.className = 'stats';
      fig.append(title, canvas, stats);
      box.append(fig);
      this.views.set(m.name, { canvas, stats, scratch: document.createElement('canvas') });
    }
  }

  click(canvas, ev) {
    if (TEST || !this.toy || !this.snap) return;
    const r = canvas.getBoundingClientRect();
    const e = this.snap.extent;
    const x = ((ev.clientX - r.left) / r.width * 2 - 1) * e;
    const y = (1 - (ev.clientY - r.top) / r.height * 2) * e;
    const label = +document.querySelector('input[name=cls]:checked').value;
    try { this.toy.add_point(x, y, label); } catch (err) { this.message(`cannot add the point: ${errorMessage(err)}`); }
  }

  draw(snap) {
    this.ensureViews(snap);
    const e = snap.extent;
    const toPx = (x, y) => [(x + e) / (2 * e) * VIEW, (e - y) / (2 * e) * VIEW];
    const grid = Math.round(Math.sqrt(snap.methods[0].regions.length / 4));
    for (const m of snap.methods) {
      const { canvas, stats, scratch } = this.views.get(m.name);
      const ctx = canvas.getContext('2d');
      // Regions: the engine's grid × grid RGBA image, scaled up smoothly.
      scratch.width = grid;
      scratch.height = grid;
      scratch.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(m.regions), grid, grid), 0, 0);
      ctx.imageSmoothingEnabled = true;
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(scratch, 0, 0, VIEW, VIEW);
      this.drawUnits(ctx, m.units, e, toPx);
      this.drawPoints(ctx, snap.points, toPx);
      const alive = m.active_units;
      stats.innerHTML = `objective <b>${m.objective.toPrecision(4)}</b> · active units <b>${alive.toFixed(1)}%</b> · ` +
        `train accuracy <b>${(100 * m.train_acc).toFixed(1)}%</b> <span class="ce">(cross-entropy ${m.train_ce.toPrecision(3)})</span>`;
    }
  }

  drawUnits(ctx, units, e, toPx) {
    const n = units.length / 4;
    let max = 0;
    for (let j = 0; j < n; j++) max = Math.max(max, units[4 * j + 3]);
    for (let j = 0; j < n; j++) {
      const [wx, wy, b, s] = [units[4 * j], units[4 * j + 1], units[4 * j + 2], units[4 * j + 3]];
      const seg = clipLine(wx, wy, b, e);
      if (!seg) continue;
      const [p, q] = [toPx(seg[0], seg[1]), toPx(seg[2], seg[3])];
      ctx.beginPath();
      ctx.moveTo(p[0], p[1]);
      ctx.lineTo(q[0], q[1]);
      if (!(s > 0)) {
        ctx.setLineDash([4, 4]);
        ctx.strokeStyle = 'rgba(90, 90, 90, 0.35)';
        ctx.lineWidth = 1;
      } else {
        ctx.setLineDash([]);
        const r = max > 0 ? s / max : 0;
        ctx.strokeStyle = `rgba(15, 15, 15, ${0.15 + 0.6 * r})`;
        ctx.lineWidth = 0.5 + 3.5 * r;
      }
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }

  drawPoints(ctx, pts, toPx) {
    for (let i = 0; i + 3 < pts.length; i += 4) {
      const [px, py] = toPx(pts[i], pts[i + 1]);
      const label = pts[i + 2] > 0.5 ? 1 : 0;
      ctx.beginPath();
      ctx.arc(px, py, 4, 0, 2 * Math.PI);
      ctx.fillStyle = CLASS[label];
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      if (pts[i + 3] > 0.5) {
        ctx.beginPath();
        ctx.arc(px, py, 7.5, 0, 2 * Math.PI);
        ctx.lineWidth = 2;
        ctx.strokeStyle = '#000';
        ctx.stroke();
      }
    }
  }

  async snapshot() {
    const snap = await this.toy.snapshot(this.grid);
    this.snap = snap;
    record(this.hist, snap);
    this.draw(snap);
    drawHistory(this.hist, $('toy-objective'), $('toy-active'));
    state.steps = snap.step;
    state.methods = this.hist.map((h) => ({ name: h.name, objective: h.objective, active_units: h.active_units }));
    return snap;
  }

  showRate() {
    const r = this.rate.value;
    state.steps_per_s = r;
    $('steps-per-s').textContent = r > 0 ? r.toFixed(r < 10 ? 1 : 0) : '–';
    $('steps').textContent = this.toy ? this.toy.steps : 0;
  }

  // Interactive: per animation frame, k steps then a snapshot; no new work while a snapshot is pending.
  loop() {
    const frame = () => {
      requestAnimationFrame(frame);
      if (this.busy || state.status === 'error') return;
      this.busy = true;
      (async () => {
        // A new problem is drawn at step 0 first.
        const run = this.snap !== null && ((!this.paused && this.visible) || this.stepOnce);
        if (run) this.toy.step(this.stepOnce ? 1 : this.k);
        this.stepOnce = false;
        if (run || !this.snap) {
          await this.snapshot();
          this.rate.add(this.toy.steps);
        } else {
          this.rate.reset();
        }
        this.showRate();
        writeState();
      })().catch(fail).finally(() => {
        this.busy = false;
        if (this.resetPending) { this.resetPending = false; this.reset(); }
      });
    };
    requestAnimationFrame(frame);
  }

  // Test mode: exactly `steps` steps, a snapshot at 0 and every `every` steps (and at the end).
  async runTest(steps, every, seed) {
    for (const el of document.querySelectorAll('#toy-controls input, #toy-controls select, #toy-controls button')) el.disabled = true;
    this.create({ ...this.defaults, seed });
    await this.snapshot();
    const t0 = performance.now();
    while (this.toy.steps < steps) {
      const n = Math.min(every - (this.toy.steps % every), steps - this.toy.steps);
      this.toy.step(n);
      await this.snapshot();
      state.steps_per_s = this.toy.steps / ((performance.now() - t0) / 1000);
      $('steps-per-s').textContent = state.steps_per_s.toFixed(1);
      $('steps').textContent = this.toy.steps;
      writeState(true);
      await new Promise((r) => requestAnimationFrame(r)); // let the page paint between chunks
    }
  }
}

// Clips the line wx·x + wy·y + b = 0 to the square [-e, e]²: [x0, y0, x1, y1] or null.
function clipLine(wx, wy, b, e) {
  const pts = [];
  const add = (x, y) => {
    if (Math.abs(x) <= e * (1 + 1e-9) && Math.abs(y) <= e * (1 + 1e-9) && !pts.some(([a, c]) => Math.abs(a - x) + Math.abs(c - y) < 1e-9 * e)) pts.push([x, y]);
  };
  if (Math.abs(wy) > 1e-12) for (const x of [-e, e]) add(x, -(wx * x + b) / wy);
  if (Math.abs(wx) > 1e-12) for (const y of [-e, e]) add(-(wy * y + b) / wx, y);
  return pts.length >= 2 ? [pts[0][0], pts[0][1], pts[1][0], pts[1][1]] : null;
}

// ---------------------------------------------------------------------------------------------------
// Task 1 panel.

class MnistPanel {
  constructor(engine) {
    this.engine = engine;
    this.demo = null;
    this.hist = [];
    this.running = false;
    this.bytes = null;
  }

  initControls() {
    $('m-start').addEventListener('click', () => this.start().catch((e) => this.failed(e)));
    $('m-stop').addEventListener('click', () => { this.running = false; });
    drawHistory([], $('m-objective'), $('m-active'));
  }

  failed(e) {
    console.error(e);
    this.running = false;
    $('m-status').textContent = `error: ${errorMessage(e)}`;
    $('m-start').disabled = false;
    $('m-stop').disabled = true;
    if (TEST) fail(e);
  }

  async load() {
    if (this.bytes) return this.bytes;
    $('m-status').textContent = 'downloading the data…';
    const get = async (name) => {
      const r = await fetch(`data/${name}`);
      if (!r.ok) throw new Error(`data/${name}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    this.bytes = await Promise.all([get('train-10k-images-idx3-ubyte.gz'), get('train-10k-labels-idx1-ubyte.gz')]);
    return this.bytes;
  }

  settings() {
    return { lr: +$('m-lr').value, lambda: +$('m-lambda').value, batch: +$('m-batch').value, seed: +$('m-seed').value };
  }

  async start(maxSteps = Infinity) {
    $('m-start').disabled = true;
    $('m-stop').disabled = false;
    const [images, labels] = await this.load();
    $('m-status').textContent = 'uploading…';
    this.demo?.free();
    this.demo = MnistDemo.create(this.engine, images, labels, JSON.stringify(this.settings()));
    this.hist = [];
    this.running = true;
    if (this.demo.data) $('m-data').textContent = `data: ${this.demo.data}`;
    $('m-status').textContent = 'training';
    const t0 = performance.now();
    this.report(await this.demo.snapshot(), t0);
    // A snapshot reads the metrics over 2,000 images: on a slow adapter it costs many steps. Take as many
    // steps between snapshots as the snapshot itself costs (at least a second's worth), growing at most
    // twofold per round.
    const snapshotS = Math.max((performance.now() - t0) / 1000, 0.05);
    let k = 1;
    while (this.running && this.demo.steps < maxSteps) {
      const n = Math.min(k, maxSteps - this.demo.steps);
      const t = performance.now();
      this.demo.step(n);
      const snap = await this.demo.snapshot();
      const perStep = Math.max(((performance.now() - t) / 1000 - snapshotS) / n, 1e-4);
      k = Math.max(1, Math.min(2 * k, 1000, Math.round(Math.max(snapshotS, 1) / perStep)));
      this.report(snap, t0);
    }
    this.running = false;
    $('m-status').textContent = this.demo.steps >= maxSteps ? 'done' : 'stopped';
    $('m-start').disabled = false;
    $('m-stop').disabled = true;
  }

  report(snap, t0) {
    record(this.hist, snap);
    drawHistory(this.hist, $('m-objective'), $('m-active'));
    const sps = snap.step / ((performance.now() - t0) / 1000);
    $('m-steps').textContent = snap.step;
    $('m-sps').textContent = snap.step > 0 ? sps.toFixed(sps < 10 ? 2 : 0) : '–';
    const rows = snap.methods.map((m, i) => `<tr><td><span class="swatch" style="background:${methodColor(m.name, i)}"></span>${m.label ?? m.name}</td>` +
      `<td>${m.objective.toPrecision(4)}</td><td>${m.train_ce.toPrecision(4)}</td><td>${(100 * m.train_acc).toFixed(2)}%</td>` +
      `<td>${Number.isFinite(m.val_acc) ? (100 * m.val_acc).toFixed(2) + '%' : '–'}</td><td>${m.active_units.toFixed(1)}%</td></tr>`);
    $('m-table').innerHTML = '<tr><th>method</th><th>objective</th><th>train cross-entropy</th><th>train accuracy</th><th>validation accuracy</th><th>active units</th></tr>' + rows.join('');
    state.mnist = {
      steps: snap.step, steps_per_s: snap.step > 0 ? sps : 0,
      methods: this.hist.map((h) => ({ name: h.name, objective: h.objective, active_units: h.active_units })),
    };
  }
}

// ---------------------------------------------------------------------------------------------------

// wgpu names the browser's adapter by its backend only (browsers keep the name to themselves); add what
// the browser does tell (vendor, architecture, e.g. "google swiftshader").
async function adapterName(engine) {
  const name = engine.adapter;
  if (!/^\s*\(/.test(name)) return name;
  try {
    const info = (await navigator.gpu.requestAdapter())?.info;
    const what = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ');
    return what ? `${what} ${name.trim()}` : name.trim();
  } catch {
    return name.trim();
  }
}

async function main() {
  writeState(true);
  if (!navigator.gpu) {
    noWebGpu('this browser has no WebGPU (navigator.gpu is missing).');
    return;
  }
  await init();
  let engine;
  try {
    engine = await Engine.create();
  } catch (e) {
    noWebGpu(`no WebGPU device: ${errorMessage(e)}`);
    return;
  }
  state.adapter = await adapterName(engine);
  $('adapter').textContent = state.adapter;
  const toy = new ToyPanel(engine);
  const mnist = new MnistPanel(engine);
  toy.initControls();
  mnist.initControls();
  state.status = 'running';
  writeState(true);
  if (TEST) {
    const steps = intParam('steps', 300), every = Math.max(1, intParam('every', 100));
    const seed = intParam('seed', toy.defaults.seed), mnistSteps = intParam('mnist', 0);
    await toy.runTest(steps, every, seed);
    if (mnistSteps > 0) {
      await mnist.start(mnistSteps);
      if (!state.mnist || state.mnist.steps !== mnistSteps) throw new Error(`Task 1 stopped at ${state.mnist?.steps} of ${mnistSteps} steps`);
    }
    if (state.status !== 'error') state.status = 'done';
    writeState(true);
    return;
  }
  toy.create(toy.settings());
  toy.loop();
  setInterval(() => { if (stateDirty) writeState(true); }, 1000);
}

main().catch(fail);
