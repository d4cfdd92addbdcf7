// dashboard.js — drive the rolloutd dashboard in headless Chromium.
//
// usage: node dashboard.js BASE_URL TOKEN_FILE FLAGS_FILE ARTIFACT_DIR
//
// Checks: the page loads with no console errors, shows the phase and the
// traffic, follows a state change made through the API within 1 s (pushed
// over the WebSocket), reconnects after the socket drops, and the emergency
// rollback button (with its confirmation) turns traffic to 0 in the flags
// file.  Screenshots go to ARTIFACT_DIR.
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const [base, tokenFile, flagsFile, artifacts] = process.argv.slice(2);
if (!artifacts) {
  console.error("usage: node dashboard.js BASE_URL TOKEN_FILE FLAGS_FILE ARTIFACT_DIR");
  process.exit(64);
}
const token = fs.readFileSync(tokenFile, "utf8").trim();

function flag(name) {
  const m = new RegExp(`^${name} = (.*);$`, "m").exec(fs.readFileSync(flagsFile, "utf8"));
  return m ? m[1] : null;
}

async function api(method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await res.json();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${JSON.stringify(data)}`);
  return data;
}

function ok(msg) { console.log("ok: " + msg); }

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const errors = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // keep a handle on every WebSocket the page opens (to drop one later)
    await context.addInitScript(() => {
      const Native = window.WebSocket;
      window.__sockets = [];
      window.WebSocket = function (url, proto) {
        const s = new Native(url, proto);
        window.__sockets.push(s);
        return s;
      };
      window.WebSocket.prototype = Native.prototype;
    });
    const page = await context.newPage();
    page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
    page.on("pageerror", (e) => errors.push("page error: " + e.message));
    page.on("requestfailed", (r) => errors.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));

    await page.goto(`${base}/rollout/#token=${token}`, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("conn").dataset.up === "1", null, { timeout: 10000 });
    await page.waitForFunction(() => document.getElementById("phase").textContent === "approval", null, { timeout: 5000 });
    const traffic0 = await page.textContent("#traffic");
    const state0 = await page.getAttribute("#state", "data-state");
    if (traffic0 !== "0") throw new Error(`traffic shown: ${traffic0}, expected 0`);
    if (state0 !== "paused") throw new Error(`state shown: ${state0}, expected paused`);
    const phases = await page.$$eval("#timeline li", (l) => l.map((x) => x.dataset.phase));
    if (phases.join(",") !== "approval,gradual,production") throw new Error("timeline: " + phases.join(","));
    ok("page shows the phase (approval), the state (paused), traffic 0 and the timeline");
    if (await page.evaluate(() => location.hash) !== "") throw new Error("token left in the URL");

    // a state change through the API: the page must follow within 1 s (pushed, not polled)
    const t0 = Date.now();
    await api("POST", "/api/rollout/promote", { reason: "browser test" });
    const tApi = Date.now();
    await page.waitForFunction(() =>
      document.getElementById("phase").textContent === "gradual" &&
      document.getElementById("traffic").textContent === "10", null, { timeout: 1000, polling: 20 });
    ok(`page followed the promote ${Date.now() - tApi} ms after the API answered ` +
      `(${Date.now() - t0} ms after the request was sent): phase gradual, traffic 10%`);
    const countdown = await page.textContent("#countdown");
    if (!/\d+[smhd]/.test(countdown)) throw new Error("no countdown shown: " + countdown);
    ok("countdown shown: " + countdown);
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(artifacts, "dashboard.png"), fullPage: true });

    // the WebSocket reconnects by itself: close it under the page's feet
    const before = await page.evaluate(() => window.__sockets.length);
    await page.evaluate(() => window.__sockets.forEach((s) => s.close()));
    await page.waitForFunction((n) => window.__sockets.length > n &&
      document.getElementById("conn").dataset.up === "1", before, { timeout: 10000 });
    ok("WebSocket closed: the page reconnected by itself");

    // emergency rollback from the button, through the confirmation dialog
    if (flag("hybridTrafficPercent") !== "10") throw new Error("flags file traffic before rollback: " + flag("hybridTrafficPercent"));
    await page.click("#rollback");
    await page.waitForSelector("#rollback-dialog[open]");
    await page.screenshot({ path: path.join(artifacts, "dashboard-confirm.png") });
    await page.fill("#rollback-reason", "browser test rollback");
    const t1 = Date.now();
    await page.click("#rollback-confirm");
    while (flag("hybridTrafficPercent") !== "0" || flag("emergencyRollback") !== "true") {
      if (Date.now() - t1 > 5000) throw new Error("flags file not rolled back: traffic " + flag("hybridTrafficPercent"));
      await new Promise((r) => setTimeout(r, 20));
    }
    ok(`rollback button: flags file has traffic 0 and emergencyRollback true after ${Date.now() - t1} ms`);
    await page.waitForFunction(() => document.getElementById("traffic").textContent === "0" &&
      document.getElementById("state").dataset.state === "rolled_back", null, { timeout: 2000 });
    const banner = await page.isVisible("#rollback-flag");
    if (!banner) throw new Error("emergency rollback banner not shown");
    ok("page shows traffic 0, rolled_back and the emergency rollback banner");
    await page.screenshot({ path: path.join(artifacts, "dashboard-rolled-back.png"), fullPage: true });

    // readable on a phone
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    const pp = await phone.newPage();
    pp.on("console", (m) => { if (m.type() === "error") errors.push("phone console: " + m.text()); });
    pp.on("pageerror", (e) => errors.push("phone page error: " + e.message));
    await pp.goto(`${base}/rollout/`, { waitUntil: "load" });
    await pp.waitForFunction(() => document.getElementById("traffic").textContent === "0", null, { timeout: 5000 });
    const overflow = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 2) throw new Error(`phone: page is ${overflow}px wider than the screen`);
    await pp.screenshot({ path: path.join(artifacts, "dashboard-phone.png"), fullPage: false });
    ok("phone viewport: no horizontal overflow");
    await phone.close();
    await context.close();
  } finally {
    await browser.close();
  }
  if (errors.length) {
    for (const e of errors) console.error(e);
    throw new Error(`${errors.length} console/page error(s)`);
  }
  ok("no console errors");
}

main().then(() => process.exit(0), (e) => {
  console.error("FAIL: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
