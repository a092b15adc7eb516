// painterly web page: plain JavaScript, no build step.
// Talks to the JSON API (see painterly/server/app.py) and follows a job through server-sent events.
"use strict";

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(["done", "cancelled", "failed"]);
const COLOUR_LABELS = {
  none: "The painting's colours",
  luminance: "Keep the photo's colours",
  match: "Match the photo's palette",
  "luma-swap": "Photo's colours (luma swap)",
};

const state = {
  config: null,
  preset: null,
  content: null, // File
  styles: [], // {file, url, weight}
  jobId: null,
  source: null, // EventSource
  history: [], // [[done, loss], ...]
  total: 0,
  terminal: false,
};

// ---------------------------------------------------------------------------------------
async function api(url, options = {}) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error("The painterly server cannot be reached. Is `painterly serve` still running?");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok) {
    const message = (body && (body.error || body.detail)) || `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}

function showMessage(text) {
  const el = $("message");
  el.textContent = text || "";
  el.hidden = !text;
}

function mb(bytes) {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

function duration(seconds) {
  return seconds < 60 ? `${seconds.toFixed(1)} s` : clock(seconds);
}

function clock(seconds) {
  if (seconds == null || !isFinite(seconds)) return "";
  seconds = Math.max(0, Math.round(seconds));
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// Style strength: the slider is logarithmic, 0..100 -> 0.1x .. 100x the default style_weight.
const strengthToWeight = (v) => state.config.defaults.style_weight * 10 ** (-1 + (3 * v) / 100);
const weightToStrength = (w) => Math.round(((Math.log10(w / state.config.defaults.style_weight) + 1) * 100) / 3);

// Form ----------------------------------------------------------------------------------
function buildForm(config) {
  const presets = $("presets");
  for (const [name, preset] of Object.entries(config.presets)) {
    const b = document.createElement("button");
    b.type = "button";
    b.role = "radio";
    b.dataset.preset = name;
    b.textContent = name[0].toUpperCase() + name.slice(1);
    b.title = preset.note;
    b.addEventListener("click", () => applyPreset(name));
    presets.append(b);
  }
  const colours = $("colors");
  for (const value of config.choices.preserve_colors) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = COLOUR_LABELS[value] || value;
    colours.append(o);
  }
  colours.value = config.defaults.preserve_colors;
  // Browsers may not map .heic/.avif to image/*: name them when the server reads them.
  const extensions = { HEIF: ".heic,.heif", AVIF: ".avif" };
  const accept = ["image/*", ...config.formats.filter((f) => extensions[f]).map((f) => extensions[f])].join(",");
  for (const id of ["content-input", "style-input"]) $(id).accept = accept;
  $("size").max = config.limits.max_size;
  $("iterations").max = config.limits.max_iterations;
  $("strength").value = weightToStrength(config.defaults.style_weight);
  applyPreset(config.default_preset);
  for (const id of ["size", "strength"]) $(id).addEventListener("input", updateOutputs);
  updateOutputs();
}

function applyPreset(name) {
  const preset = state.config.presets[name];
  state.preset = name;
  for (const b of $("presets").children) b.setAttribute("aria-checked", String(b.dataset.preset === name));
  $("size").value = preset.size;
  $("iterations").value = preset.iterations;
  $("preset-note").textContent = preset.note;
  updateOutputs();
}

function updateOutputs() {
  $("size-out").textContent = `${$("size").value} px`;
  const relative = strengthToWeight(+$("strength").value) / state.config.defaults.style_weight;
  $("strength-out").textContent = `${relative >= 10 ? relative.toFixed(0) : relative.toFixed(1)}×`;
}

function checkFile(file, what) {
  const limit = state.config.limits.max_upload_bytes;
  if (file.size > limit) {
    showMessage(`${what} ${file.name} is ${mb(file.size)}; the limit is ${mb(limit)} per image.`);
    return false;
  }
  return true;
}

function setContent(file) {
  if (!file || !checkFile(file, "Photo")) return;
  showMessage("");
  state.content = file;
  const img = $("content-thumb");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(file);
  img.hidden = false;
  $("content-drop").classList.add("filled");
}

function addStyles(files) {
  const max = state.config.limits.max_styles;
  for (const file of files) {
    if (!checkFile(file, "Style image")) continue;
    if (state.styles.length >= max) {
      showMessage(`At most ${max} style images.`);
      break;
    }
    showMessage("");
    state.styles.push({ file, url: URL.createObjectURL(file), weight: 50 });
  }
  renderStyles();
}

function renderStyles() {
  const list = $("styles");
  list.replaceChildren();
  state.styles.forEach((style, i) => {
    const li = document.createElement("li");
    const img = document.createElement("img");
    img.src = style.url;
    img.alt = style.file.name;
    const middle = document.createElement("div");
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = style.file.name;
    middle.append(name);
    if (state.styles.length > 1) {
      const blend = document.createElement("label");
      blend.className = "blend";
      const range = document.createElement("input");
      range.type = "range";
      range.min = "0";
      range.max = "100";
      range.value = String(style.weight);
      range.className = "blend-slider";
      range.setAttribute("aria-label", `blend weight of ${style.file.name}`);
      const out = document.createElement("span");
      const share = () => {
        const sum = state.styles.reduce((a, s) => a + s.weight, 0) || 1;
        return `${Math.round((100 * style.weight) / sum)}%`;
      };
      out.textContent = share();
      range.addEventListener("input", () => {
        style.weight = +range.value;
        for (const o of list.querySelectorAll(".blend span")) o.dispatchEvent(new Event("refresh"));
      });
      out.addEventListener("refresh", () => (out.textContent = share()));
      blend.append("blend", range, out);
      middle.append(blend);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.title = `remove ${style.file.name}`;
    remove.textContent = "×";
    remove.addEventListener("click", () => {
      URL.revokeObjectURL(style.url);
      state.styles.splice(i, 1);
      renderStyles();
    });
    li.append(img, middle, remove);
    list.append(li);
  });
}

function options() {
  const o = {
    preset: state.preset,
    size: +$("size").value,
    iterations: +$("iterations").value,
    style_weight: +strengthToWeight(+$("strength").value).toPrecision(3),
    preserve_colors: $("colors").value,
  };
  if ($("seed").value !== "") o.seed = +$("seed").value;
  if (state.styles.length > 1) {
    const weights = state.styles.map((s) => s.weight);
    o.style_blend_weights = weights.every((w) => w === 0) ? weights.map(() => 1) : weights;
  }
  return o;
}

async function start(event) {
  event.preventDefault();
  showMessage("");
  if (!state.content) return showMessage("Choose a photo first (step 1).");
  if (!state.styles.length) return showMessage("Add at least one style image (step 2).");
  const form = new FormData();
  form.append("content", state.content, state.content.name);
  for (const s of state.styles) form.append("style", s.file, s.file.name);
  form.append("options", JSON.stringify(options()));
  const button = $("start");
  button.disabled = true;
  button.textContent = "Uploading…";
  try {
    const job = await api("/api/jobs", { method: "POST", body: form });
    watch(job.id);
  } catch (err) {
    showMessage(err.message);
  } finally {
    button.disabled = false;
    button.textContent = "Paint";
  }
}

// Following a job -------------------------------------------------------------------------
function watch(id) {
  if (state.source) state.source.close();
  state.jobId = id;
  state.terminal = false;
  state.history = [];
  state.total = 0;
  if (location.hash !== `#job=${id}`) history.replaceState(null, "", `#job=${id}`);
  localStorage.setItem("painterly.job", id);
  for (const el of ["download", "sheet-link", "sheet", "view"]) $(el).hidden = true;
  $("placeholder").hidden = false;
  $("placeholder").textContent = "The painting appears here as it is made.";
  $("result-info").textContent = "";
  $("eta").textContent = "";
  $("bar").style.width = "0";
  drawLoss();
  setStatus("Connecting…");
  markGallery();
  const source = new EventSource(`/api/jobs/${id}/events`);
  state.source = source;
  source.addEventListener("state", (e) => renderState(JSON.parse(e.data)));
  source.addEventListener("progress", (e) => renderProgress(JSON.parse(e.data), true));
  source.addEventListener("preview", (e) => showImage(JSON.parse(e.data).url));
  source.onerror = async () => {
    if (state.terminal || state.source !== source) return;
    if (source.readyState === EventSource.CONNECTING) {
      setStatus("Connection lost, reconnecting…");
      return;
    }
    try {
      renderState(await api(`/api/jobs/${id}`));
    } catch (err) {
      setStatus(err.message, true);
      $("cancel").hidden = true;
      if (err.status === 404) localStorage.removeItem("painterly.job");
    }
  };
}

function setStatus(text, error = false) {
  const el = $("status-text");
  el.textContent = text;
  el.classList.toggle("error", error);
}

function showImage(url) {
  const img = $("view");
  img.src = url;
  img.hidden = false;
  $("placeholder").hidden = true;
}

function renderState(s) {
  state.history = s.history || [];
  state.total = s.total;
  const cancel = $("cancel");
  cancel.hidden = TERMINAL.has(s.status);
  cancel.disabled = !!s.cancel_requested;
  cancel.textContent = s.cancel_requested ? "Cancelling…" : "Cancel";
  $("retry").hidden = s.status !== "interrupted";
  const largest = state.config.limits.max_size;
  $("again").hidden = s.status !== "done";
  $("again-large").hidden = s.status !== "done" || Math.max(...((s.result && s.result.size) || [largest])) >= largest;
  $("again-large").textContent = `Again at ${largest} px`;
  if (s.status === "done") {
    showImage(s.files.image);
  } else if (s.preview) {
    showImage(s.preview);
  }
  renderProgress(s, false);
  if (s.status === "queued") {
    setStatus(s.position > 1 ? `Waiting in the queue: ${s.position - 1} job(s) ahead` : "Next in the queue…");
    $("eta").textContent = "";
  } else if (s.status === "running" && !s.done) {
    setStatus("Preparing the network and the style…");
  } else if (s.status === "done") {
    const r = s.result;
    setStatus("Done.");
    $("eta").textContent = "";
    $("bar").style.width = "100%";
    $("result-info").textContent = `${r.size[1]}×${r.size[0]} px · ${r.iterations} iterations · ` +
      `${duration(r.seconds)} · seed ${r.seed}`;
    const download = $("download");
    download.href = s.files.download;
    download.setAttribute("download", `painterly-${s.id}.png`);
    download.hidden = false;
    $("sheet-link").href = s.files.sheet;
    $("sheet-link").hidden = false;
    $("sheet").src = s.files.sheet;
    $("sheet").hidden = false;
  } else if (s.status === "cancelled") {
    const where = s.done ? ` at iteration ${s.done} of ${s.total}` : "";
    const shown = s.preview ? "; the last preview is shown" : "";
    setStatus(s.error ? `Cancelled: ${s.error}.` : `Cancelled${where}${shown}.`);
    $("eta").textContent = "";
  } else if (s.status === "failed") {
    setStatus(`Failed: ${s.error}`, true);
    $("eta").textContent = "";
  } else if (s.status === "interrupted") {
    setStatus(`Interrupted by a restart: ${s.error}. Retry, or cancel it.`, true);
    $("eta").textContent = "";
  }
  if (TERMINAL.has(s.status)) {
    state.terminal = true;
    if (state.source) state.source.close();
    if (s.status === "done") loadGallery();
  }
}

function renderProgress(p, live) {
  if (p.total) state.total = p.total;
  if (live && p.loss != null) state.history.push([p.done, p.loss]);
  if (p.total > 0) {
    const pct = Math.min(100, (100 * p.done) / p.total);
    $("bar").style.width = `${pct}%`;
    $("progress").setAttribute("aria-valuenow", String(Math.round(pct)));
  } else {
    $("bar").style.width = "0";
  }
  if (live || (p.status === "running" && p.done)) {
    const scale = p.scales > 1 ? ` · scale ${p.scale} of ${p.scales}` : "";
    const size = p.size ? ` · ${p.size[1]}×${p.size[0]} px` : "";
    setStatus(`Painting: iteration ${p.done} of ${p.total}${scale}${size}`);
    $("eta").textContent = p.eta != null ? `about ${clock(p.eta)} left` : "";
  }
  drawLoss();
}

function drawLoss() {
  const canvas = $("loss");
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(100, canvas.clientWidth) * ratio;
  const h = canvas.clientHeight * ratio || 110 * ratio;
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const points = state.history.filter(([, v]) => v > 0);
  ctx.font = `${11 * ratio}px system-ui, sans-serif`;
  ctx.fillStyle = "#667085";
  if (points.length < 2) {
    ctx.fillText("loss curve", 8 * ratio, 16 * ratio);
    return;
  }
  const pad = { l: 8 * ratio, r: 8 * ratio, t: 20 * ratio, b: 8 * ratio };
  const total = Math.max(state.total, points[points.length - 1][0]);
  const logs = points.map(([, v]) => Math.log10(v));
  const lo = Math.min(...logs);
  const hi = Math.max(...logs);
  const x = (d) => pad.l + ((w - pad.l - pad.r) * d) / total;
  const y = (v) => pad.t + ((h - pad.t - pad.b) * (hi - v)) / (hi - lo || 1);
  ctx.strokeStyle = "#2f4fb5";
  ctx.lineWidth = 2 * ratio;
  ctx.beginPath();
  points.forEach(([d], i) => (i ? ctx.lineTo(x(d), y(logs[i])) : ctx.moveTo(x(d), y(logs[i]))));
  ctx.stroke();
  const last = points[points.length - 1][1];
  const label = `loss ${last.toPrecision(3)} (log scale, from ${points[0][1].toPrecision(3)}): lower is closer ` +
    "to the photo's content and the painting's style";
  ctx.textAlign = "right";
  ctx.fillText(label, w - 8 * ratio, 14 * ratio);
  ctx.textAlign = "left";
}

async function cancelJob() {
  if (!state.jobId) return;
  const button = $("cancel");
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    renderState(await api(`/api/jobs/${state.jobId}/cancel`, { method: "POST" }));
  } catch (err) {
    showMessage(err.message);
  }
}

async function retryJob() {
  if (!state.jobId) return;
  const button = $("retry");
  button.disabled = true;
  try {
    renderState(await api(`/api/jobs/${state.jobId}/retry`, { method: "POST" }));
  } catch (err) {
    showMessage(err.message);
  } finally {
    button.disabled = false;
  }
}

// The same painting again (its inputs, options and seed), at its size or the server's largest.
async function paintAgain(size) {
  if (!state.jobId) return;
  const buttons = [$("again"), $("again-large")];
  for (const b of buttons) b.disabled = true;
  try {
    const init = { method: "POST", headers: { "Content-Type": "application/json" } };
    if (size) init.body = JSON.stringify({ size });
    watch((await api(`/api/jobs/${state.jobId}/again`, init)).id);
  } catch (err) {
    showMessage(err.message);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

// Gallery ---------------------------------------------------------------------------------
async function loadGallery() {
  let results;
  try {
    results = (await api("/api/gallery")).results;
  } catch (err) {
    $("gallery-note").textContent = err.message;
    return;
  }
  const grid = $("gallery");
  grid.replaceChildren();
  $("gallery-note").textContent = results.length ? `${results.length} kept in the output folder` : "";
  if (!results.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "Finished paintings are kept here.";
    grid.append(p);
  }
  for (const r of results) {
    const a = document.createElement("a");
    a.href = `#job=${r.id}`;
    a.dataset.id = r.id;
    const img = document.createElement("img");
    img.src = r.files.thumb;
    img.loading = "lazy";
    img.alt = `painting ${r.id}`;
    const when = new Date(r.finished * 1000);
    const caption = document.createElement("span");
    const content = r.inputs && r.inputs.content ? r.inputs.content.name : "";
    caption.textContent = `${when.toLocaleDateString()} ${when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}` +
      (content ? ` · ${content}` : "");
    a.append(img, caption);
    a.addEventListener("click", (e) => {
      e.preventDefault();
      watch(r.id);
    });
    grid.append(a);
  }
  markGallery();
}

function markGallery() {
  for (const a of $("gallery").querySelectorAll("a")) a.classList.toggle("current", a.dataset.id === state.jobId);
}

// Start-up --------------------------------------------------------------------------------
function wireDrop(zone) {
  zone.addEventListener("dragenter", () => zone.classList.add("over"));
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", () => zone.classList.remove("over"));
}

function jobFromLocation() {
  const m = /job=([0-9a-f]{12})/.exec(location.hash);
  return m ? m[1] : localStorage.getItem("painterly.job");
}

async function init() {
  try {
    state.config = await api("/api/config");
  } catch (err) {
    showMessage(err.message);
    return;
  }
  buildForm(state.config);
  $("content-input").addEventListener("change", (e) => setContent(e.target.files[0]));
  $("style-input").addEventListener("change", (e) => {
    addStyles([...e.target.files]);
    e.target.value = "";
  });
  // A file dropped beside the drop zones would make the browser navigate away to it.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (e) => {
      if (!(e.target instanceof Element && e.target.closest(".drop"))) e.preventDefault();
    });
  }
  wireDrop($("content-drop"));
  wireDrop($("style-drop"));
  $("form").addEventListener("submit", start);
  $("cancel").addEventListener("click", cancelJob);
  $("retry").addEventListener("click", retryJob);
  $("again").addEventListener("click", () => paintAgain(null));
  $("again-large").addEventListener("click", () => paintAgain(state.config.limits.max_size));
  window.addEventListener("hashchange", () => {
    const id = jobFromLocation();
    if (id && id !== state.jobId) watch(id);
  });
  window.addEventListener("resize", drawLoss);
  drawLoss();
  await loadGallery();
  const id = jobFromLocation();
  if (id) watch(id);
}

document.addEventListener("DOMContentLoaded", init);
