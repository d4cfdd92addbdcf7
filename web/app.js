/*
 * app.js — the rolloutd dashboard.  One WebSocket (/ws, protocol
 * "rollout") pushes a snapshot on every change; the page re-renders from
 * it.  Actions are POSTs to the API with the bearer token kept in this
 * browser (localStorage, or #token=... in the URL once).  No framework.
 */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let snapshot = null;
  let receivedAt = 0;
  let ws = null;
  let backoff = 500;
  let editing = null;          // the flag whose control has focus: do not overwrite it

  /* ---- token ---------------------------------------------------------- */
  function token() {
    try { return localStorage.getItem("rolloutd.token") || ""; } catch (e) { return ""; }
  }
  function setToken(t) {
    try { localStorage.setItem("rolloutd.token", t); } catch (e) { /* private mode */ }
  }
  (function tokenFromHash() {
    const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (m) {
      setToken(decodeURIComponent(m[1]));
      history.replaceState(null, "", location.pathname + location.search);
    }
  })();

  /* ---- helpers -------------------------------------------------------- */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const k of kids) if (k != null) e.append(k);
    return e;
  }
  function fmtDuration(ms) {
    if (ms == null || !isFinite(ms)) return "–";
    if (ms < 0) ms = 0;
    let s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  function fmtNum(v) {
    if (v == null) return "–";
    if (typeof v !== "number") return String(v);
    if (Number.isInteger(v)) return String(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }
  function fmtTime(ms) {
    if (!ms) return "";
    const d = new Date(ms);
    return d.toISOString().replace("T", " ").slice(0, 19);
  }
  function message(text, isError) {
    const m = $("message");
    m.textContent = text;
    m.classList.toggle("err", !!isError);
    m.classList.remove("hidden");
    clearTimeout(message.t);
    message.t = setTimeout(() => m.classList.add("hidden"), 8000);
  }

  /* ---- API calls ------------------------------------------------------ */
  async function post(path, body) {
    if (!token()) {
      message("Set the API token (Access, below) to act.", true);
      return null;
    }
    let res;
    try {
      res = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Authorization": "Bearer " + token() },
        body: JSON.stringify(Object.assign({ who: "dashboard" }, body || {})),
      });
    } catch (e) {
      message("rolloutd unreachable: " + e.message, true);
      return null;
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) {
      message(`${path}: ${res.status} ${data && data.error ? data.error : res.statusText}`, true);
      return null;
    }
    return data;
  }

  /* ---- rendering ------------------------------------------------------ */
  function render() {
    if (!snapshot) return;
    const st = snapshot.status || {};
    $("plan").textContent = `${st.plan || "?"} · ${st.plan_file || ""}`;
    const state = $("state");
    state.textContent = st.state + (st.state === "paused" && st.pause_reason && st.pause_reason !== "none"
      ? ` (${st.pause_reason.replace(/_/g, " ")})` : "");
    state.title = st.storage && st.storage.ok === false
      ? `storage: ${st.storage.error} (${st.storage.queued} journal records wait in memory)` : "";
    state.dataset.state = st.state || "unknown";
    const traffic = typeof st.traffic === "number" ? st.traffic : 0;
    $("traffic").textContent = traffic;
    $("traffic-bar").style.width = Math.max(0, Math.min(100, traffic)) + "%";
    $("eff-traffic").textContent = st.effective_traffic != null ? st.effective_traffic : "–";
    const flags = (st.flags && st.flags.flags) || {};
    $("rollback-flag").classList.toggle("hidden", !flags.emergencyRollback);
    $("phase").textContent = st.phase || "–";
    $("step").textContent = st.step_desc ? `${st.step_desc} · step ${st.step} of ${st.steps}` : "–";
    renderTimeline(st);
    renderCountdown();
    renderGates(st);
    renderCharts();
    renderAlerts(snapshot.alerts);
    renderShadow(snapshot.shadow);
    renderFlags(st.flags);
  }

  function renderTimeline(st) {
    const ol = $("timeline");
    ol.textContent = "";
    const phases = Array.isArray(st.phases) ? st.phases : [];
    phases.forEach((ph, i) => {
      const cls = i < st.phase_index ? "done" : i === st.phase_index ? "current" : "";
      const steps = el("div", { class: "steps" });
      (ph.steps || []).forEach((s, j) => {
        let label = s.kind;
        if (s.kind === "traffic") label = `${s.traffic}%`;
        if (s.hold_ms) label += ` · ${fmtDuration(s.hold_ms)}`;
        let scls = "stp";
        if (i < st.phase_index || (i === st.phase_index && j + 1 < st.step)) scls += " done";
        if (i === st.phase_index && j + 1 === st.step) scls += " current";
        steps.append(el("span", { class: scls, text: label }));
      });
      if (ph.hold_ms) steps.append(el("span", { class: "stp", text: `hold ${fmtDuration(ph.hold_ms)}` }));
      if ((ph.gates || []).length) steps.append(el("span", { class: "stp", text: `${ph.gates.length} gate(s)` }));
      ol.append(el("li", { class: cls, "data-phase": ph.name },
        el("div", { class: "pname", text: `${i + 1}. ${ph.name}` }), steps));
    });
  }

  function parseTime(v) {
    if (v == null) return null;
    if (typeof v === "number") return v;
    const t = Date.parse(v);
    return isNaN(t) ? null : t;
  }

  function renderCountdown() {
    if (!snapshot) return;
    const st = snapshot.status || {};
    const speed = st.speed || 1;
    const now = (st.time_ms || Date.now()) + (Date.now() - receivedAt) * speed;
    const hold = parseTime(st.hold_until);
    const next = parseTime(st.next_check);
    if (st.state === "holding" && hold) {
      $("countdown").textContent = fmtDuration(hold - now);
      $("countdown-what").textContent = `hold ends ${fmtTime(hold)} UTC`;
    } else if (st.state === "paused") {
      $("countdown").textContent = "waiting";
      $("countdown-what").textContent = st.pause_reason === "manual_approval"
        ? "needs approval: Promote" : "paused: Resume to continue";
    } else if (next && (st.state === "running" || st.state === "gating")) {
      $("countdown").textContent = fmtDuration(next - now);
      $("countdown-what").textContent = "next check";
    } else {
      $("countdown").textContent = "–";
      $("countdown-what").textContent = st.state || "–";
    }
  }

  function renderGates(st) {
    const tb = $("gates").tBodies[0];
    tb.textContent = "";
    const gates = st.gates || [];
    if (!gates.length) tb.append(el("tr", {}, el("td", { colspan: 3, class: "muted", text: "no gates in this phase" })));
    for (const g of gates) {
      // "p95(candidate.alert_latency, 1h) < 5s": the measure and its threshold
      const text = g.expr || g.text || "?";
      const m = /^(.*?)\s*(>=|<=|==|!=|>|<)\s*([^\s()]+)\s*$/.exec(text);
      tb.append(el("tr", {},
        el("td", {}, el("code", { text: m ? m[1] : text })),
        el("td", {}, el("strong", { text: fmtNum(g.value) }),
          el("span", { class: "muted", text: m ? ` ${m[2]} ${m[3]}` : "" }),
          el("div", { class: "small muted", text: `${g.samples || 0} samples (min ${g.min_samples || 1})` })),
        el("td", { class: "v-" + (g.verdict || "not_evaluated"), text: (g.verdict || "not evaluated").replace(/_/g, " ") })));
    }
    const tt = $("triggers").tBodies[0];
    tt.textContent = "";
    const trig = st.triggers || [];
    if (!trig.length) tt.append(el("tr", {}, el("td", { colspan: 4, class: "muted", text: "no triggers" })));
    for (const t of trig) {
      tt.append(el("tr", {},
        el("td", { text: t.name }),
        el("td", {}, el("code", { text: t.text || "" })),
        el("td", { text: t.armed ? "armed" : "not yet" }),
        // a trigger's condition describes trouble: true means it is firing
        el("td", { class: t.verdict === "pass" ? "v-fail" : t.verdict === "fail" ? "v-pass" : "v-inconclusive",
          text: t.verdict === "pass" ? "firing" : t.verdict === "fail" ? "quiet" :
            t.verdict ? "no data" : "not evaluated" })));
    }
  }

  /* ---- charts (canvas) ------------------------------------------------- */
  function drawChart(canvas, lines, yFixed) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300, h = canvas.clientHeight || 140;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const pts = lines.flatMap((l) => l.points);
    g.fillStyle = "#8b98a5";
    g.font = "11px system-ui, sans-serif";
    if (!pts.length) {
      g.fillText("no data yet", 10, h / 2);
      return;
    }
    let t0 = Math.min(...pts.map((p) => p[0])), t1 = Math.max(...pts.map((p) => p[0]));
    let y0 = yFixed ? yFixed[0] : Math.min(0, ...pts.map((p) => p[1]));
    let y1 = yFixed ? yFixed[1] : Math.max(...pts.map((p) => p[1]));
    if (t1 === t0) t1 = t0 + 1;
    if (y1 === y0) y1 = y0 + 1;
    const L = 42, R = 8, T = 8, B = 18;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (w - L - R);
    const y = (v) => h - B - ((v - y0) / (y1 - y0)) * (h - T - B);
    g.strokeStyle = "#2a3542";
    g.lineWidth = 1;
    for (let i = 0; i <= 2; i++) {
      const v = y0 + ((y1 - y0) * i) / 2;
      g.beginPath(); g.moveTo(L, y(v)); g.lineTo(w - R, y(v)); g.stroke();
      g.fillText(fmtNum(v), 2, y(v) + 4);
    }
    g.fillText(new Date(t0).toISOString().slice(11, 16), L, h - 4);
    g.fillText(new Date(t1).toISOString().slice(11, 16), w - R - 30, h - 4);
    for (const l of lines) {
      if (!l.points.length) continue;
      g.strokeStyle = l.color;
      g.lineWidth = 2;
      g.beginPath();
      l.points.forEach((p, i) => (i ? g.lineTo(x(p[0]), y(p[1])) : g.moveTo(x(p[0]), y(p[1]))));
      g.stroke();
      if (l.points.length === 1) {
        g.fillStyle = l.color;
        g.fillRect(x(l.points[0][0]) - 2, y(l.points[0][1]) - 2, 4, 4);
      }
    }
  }

  /* errors / requests per time bin */
  function errorRate(errors, requests, bins) {
    if (!requests.length) return [];
    const all = errors.concat(requests).map((p) => p[0]);
    const t0 = Math.min(...all), t1 = Math.max(...all) + 1;
    const width = (t1 - t0) / bins;
    const e = new Array(bins).fill(0), r = new Array(bins).fill(0);
    const bin = (t) => Math.min(bins - 1, Math.floor((t - t0) / width));
    errors.forEach((p) => { e[bin(p[0])] += p[1]; });
    requests.forEach((p) => { r[bin(p[0])] += p[1]; });
    const out = [];
    for (let i = 0; i < bins; i++) if (r[i] > 0) out.push([t0 + (i + 0.5) * width, e[i] / r[i]]);
    return out;
  }

  function renderCharts() {
    const s = (snapshot.metrics && snapshot.metrics.series) || {};
    const get = (n) => (Array.isArray(s[n]) ? s[n] : []);
    const css = getComputedStyle(document.documentElement);
    const cand = css.getPropertyValue("--cand").trim(), base = css.getPropertyValue("--base").trim();
    drawChart($("chart-latency"), [
      { color: base, points: get("baseline.alert_latency") },
      { color: cand, points: get("candidate.alert_latency") },
    ]);
    drawChart($("chart-errors"), [
      { color: base, points: errorRate(get("baseline.errors"), get("baseline.requests"), 30) },
      { color: cand, points: errorRate(get("candidate.errors"), get("candidate.requests"), 30) },
    ]);
    drawChart($("chart-accuracy"), [
      { color: css.getPropertyValue("--acc").trim(), points: get("shadow.accuracy") },
    ], [0, 1]);
  }

  function renderAlerts(alerts) {
    const ul = $("alerts");
    const list = (alerts && alerts.alerts) || [];
    ul.textContent = "";
    if (!list.length) { ul.append(el("li", { class: "muted", text: "no alerts yet" })); return; }
    for (const a of list) {
      ul.append(el("li", {},
        el("span", { class: "sev " + (a.severity || "info"), text: a.severity || "info" }),
        el("strong", { text: a.title || a.type || "alert" }),
        el("div", { class: "small", text: a.message || "" }),
        el("div", { class: "small muted",
          text: `${fmtTime(a.time_ms)} · ${a.system || "?"}${a.delivered === false ? " · not delivered (shadow)" : ""}${a.label ? " · " + a.label : ""}` })));
    }
  }

  function cell(v) {
    if (v == null) return "–";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function renderShadow(sh) {
    const sum = $("shadow-summary");
    const table = $("mismatches");
    table.tHead.textContent = "";
    table.tBodies[0].textContent = "";
    if (!sh) { sum.textContent = "no comparator data"; return; }
    const acc = sh.accuracy == null ? "–" : (sh.accuracy * 100).toFixed(2) + " %";
    sum.textContent = `accuracy ${acc} · matched ${sh.matched || 0} · missed ${sh.missed || 0} · extra ${sh.extra || 0}` +
      (sh.lead_time_ms != null ? ` · candidate lead ${fmtDuration(sh.lead_time_ms)}` : "");
    const mm = sh.mismatches || [];
    if (!mm.length) {
      table.tBodies[0].append(el("tr", {}, el("td", { class: "muted", text: "no mismatches" })));
      return;
    }
    const cols = Object.keys(mm[0]).slice(0, 8);
    table.tHead.append(el("tr", {}, ...cols.map((c) => el("th", { text: c }))));
    for (const m of mm.slice(0, 30))
      table.tBodies[0].append(el("tr", {}, ...cols.map((c) => el("td", { text: cell(m[c]) }))));
  }

  function renderFlags(fv) {
    const tb = $("flags").tBodies[0];
    if (!fv || !fv.flags) { tb.textContent = ""; return; }
    $("flags-meta").textContent = `${fv.path} · generation ${fv.generation}` + (fv.broken ? ` · BROKEN: ${fv.error}` : "");
    if (editing) return;
    tb.textContent = "";
    for (const [name, value] of Object.entries(fv.flags)) {
      const type = (fv.types || {})[name];
      let input;
      if (type === "bool") {
        input = el("input", { type: "checkbox", "aria-label": name });
        input.checked = !!value;
      } else if (type === "int") {
        input = el("input", { type: "number", step: "1", value: String(value), "aria-label": name });
      } else {
        input = el("input", { type: "text", value: String(value), "aria-label": name });
      }
      input.addEventListener("focus", () => { editing = name; });
      input.addEventListener("blur", () => { setTimeout(() => { if (editing === name) editing = null; }, 300); });
      const save = el("button", { text: "Set", "data-flag": name });
      save.addEventListener("click", async () => {
        let v = type === "bool" ? input.checked : type === "int" ? parseInt(input.value, 10) : input.value;
        if (type === "int" && isNaN(v)) { message(`${name}: not an integer`, true); return; }
        const r = await post("/api/flags/" + encodeURIComponent(name), { value: v, reason: "dashboard" });
        editing = null;
        if (r) message(`${name} = ${JSON.stringify(v)} (generation ${r.generation})`);
      });
      tb.append(el("tr", {}, el("td", {}, el("code", { text: name })), el("td", {}, input), el("td", {}, save)));
    }
  }

  /* ---- live connection ------------------------------------------------- */
  function connect() {
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
    try {
      ws = new WebSocket(url, "rollout");
    } catch (e) {
      setTimeout(connect, backoff);
      return;
    }
    ws.onopen = () => {
      backoff = 500;
      $("conn").dataset.up = "1";
      $("conn").textContent = "live";
    };
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type !== "snapshot") return;
      snapshot = msg;
      receivedAt = Date.now();
      render();
    };
    ws.onclose = () => {
      $("conn").dataset.up = "0";
      $("conn").textContent = "reconnecting…";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 5000);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /* ---- wiring ---------------------------------------------------------- */
  document.querySelectorAll("button[data-action]").forEach((b) => {
    b.addEventListener("click", async () => {
      const r = await post(b.dataset.action, { reason: "dashboard: " + b.textContent.toLowerCase() });
      if (r) message(`${b.textContent}: ${r.state || "ok"}`);
    });
  });
  $("rollback").addEventListener("click", () => $("rollback-dialog").showModal());
  $("rollback-dialog").addEventListener("close", async () => {
    if ($("rollback-dialog").returnValue !== "confirm") return;
    const r = await post("/api/emergency/rollback", { reason: $("rollback-reason").value || "dashboard" });
    if (r) message(`Emergency rollback done: traffic ${r.traffic}%`);
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken($("token").value.trim());
    $("token").value = "";
    message("Token saved in this browser.");
  });
  if (token()) $("token").placeholder = "API token (saved)";
  window.addEventListener("resize", () => { if (snapshot) renderCharts(); });
  setInterval(renderCountdown, 1000);
  connect();
})();
