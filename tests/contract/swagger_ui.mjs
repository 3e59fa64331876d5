#!/usr/bin/env node
// Swagger UI contract check for keygate.
//
//   node tests/contract/swagger_ui.mjs BASE_URL KEY SCREENSHOT_PATH
//
// Drives the Swagger UI served at BASE_URL/swagger-ui/ in headless Debian
// Chromium (playwright-core, never a downloaded browser) and checks:
//   1. the UI loads and renders operations, without a spec error;
//   2. every tag and every operation (method, path, summary) of the live
//      BASE_URL/api-docs/openapi.json is shown;
//   3. Authorize with KEY in the bearer_auth scheme locks every secured operation;
//   4. Try it out on GET /v1/me answers 200 with the id of KEY (as GET /v1/me
//      answers when called directly);
//   5. the same Try it out WITHOUT Authorize (fresh page, clean profile) shows 401;
//   6. a screenshot of the executed /v1/me response is saved to SCREENSHOT_PATH;
//   7. every other document in SWAGGER_UI_DOCS (space-separated /api-docs/...
//      paths; the run script passes every committed document) is in the top
//      bar's definition selector and, once picked, lists every tag and
//      operation, as step 2 checks for the native one.
// One line per check: "PASS step N ..." / "FAIL step N ...". Exit 0 only if all
// pass; 1 on a failed check; 2 on bad usage, an unexpected error or the overall
// timeout. The browser is always closed and its temporary profile removed.
//
// playwright-core is looked up in $KEYGATE_PLAYWRIGHT_PREFIX (default
// ~/.cache/keygate-contract/npm), then in NODE_PATH / the usual resolution.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const OVERALL_TIMEOUT_MS = Number(process.env.SWAGGER_UI_TIMEOUT_MS || 90_000);
const STEP_TIMEOUT_MS = 20_000;
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const ME_PATH = "/v1/me";

// ---------------------------------------------------------------- arguments
const [baseArg, KEY, SHOT] = process.argv.slice(2);
if (!baseArg || !KEY || !SHOT) {
  console.error("usage: node tests/contract/swagger_ui.mjs BASE_URL KEY SCREENSHOT_PATH");
  process.exit(2);
}
const BASE = baseArg.replace(/\/+$/, "");
const ORIGIN = new URL(BASE).origin;

function loadPlaywright() {
  const prefixes = [
    process.env.KEYGATE_PLAYWRIGHT_PREFIX,
    path.join(os.homedir(), ".cache/keygate-contract/npm"),
  ].filter(Boolean);
  const errors = [];
  for (const p of prefixes) {
    try { return createRequire(path.join(p, "noop.js"))("playwright-core"); } catch (e) { errors.push(`${p}: ${e.code || e.message}`); }
  }
  try { return createRequire(import.meta.url)("playwright-core"); } catch (e) { errors.push(`default: ${e.code || e.message}`); }
  throw new Error(`cannot load playwright-core (${errors.join("; ")})`);
}

// ---------------------------------------------------------------- reporting
const results = [];
function report(step, ok, msg) {
  results.push({ step, ok, msg });
  console.log(`${ok ? "PASS" : "FAIL"} step ${step} ${msg}`);
}
const note = (msg) => console.log(`note: ${msg}`);
// keep the key out of the output, and terminal colour codes out of error messages
const redact = (s) => String(s).split(KEY).join("<KEY>").replace(/\x1b\[[0-9;]*m/g, "");

// ---------------------------------------------------------------- cleanup
let ctx = null;
let profileDir = null;
let cleanupPromise = null;
let exiting = false;
function cleanup() {
  cleanupPromise ??= (async () => {
    if (ctx) {
      await Promise.race([ctx.close().catch(() => {}), new Promise((r) => setTimeout(r, 10_000))]);
    }
    if (profileDir) {
      try { fs.rmSync(profileDir, { recursive: true, force: true }); } catch (e) { console.error(`could not remove ${profileDir}: ${e.message}`); }
    }
  })();
  return cleanupPromise;
}
async function bail(code, msg) {
  if (exiting) return;
  exiting = true;
  if (msg) console.log(msg);
  await cleanup();
  process.exit(code);
}
const overall = setTimeout(() => {
  bail(2, `FAIL overall timeout of ${OVERALL_TIMEOUT_MS / 1000}s exceeded (after ${results.length} checks)`);
}, OVERALL_TIMEOUT_MS);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => bail(2, `FAIL interrupted by ${sig}`));

// ---------------------------------------------------------------- helpers
async function fetchJson(url, headers = {}) {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

// Effective security requirement of an operation; null/[]/[{}] means "none needed".
function needsAuth(doc, op) {
  const sec = op.security ?? doc.security ?? [];
  return sec.length > 0 && !sec.some((req) => Object.keys(req).length === 0);
}

function docOperations(doc) {
  const ops = [];
  for (const [p, item] of Object.entries(doc.paths || {})) {
    for (const m of HTTP_METHODS) {
      const op = item[m];
      if (!op) continue;
      ops.push({ method: m.toUpperCase(), path: p, summary: op.summary ?? null,
        tags: op.tags?.length ? op.tags : ["default"], secured: needsAuth(doc, op) });
    }
  }
  return ops;
}

const meBlock = (page) =>
  page.locator(`.opblock.opblock-get:has(.opblock-summary-path[data-path="${ME_PATH}"])`).first();

// Expands every collapsed tag section (docExpansion "none" renders none of their operations).
async function expandAllTags(page) {
  const tags = await page.$$eval(".opblock-tag-section:not(.is-open) h3.opblock-tag", (hs) => hs.map((h) => h.getAttribute("data-tag")));
  for (const tag of tags) {
    const sel = `h3.opblock-tag[data-tag="${tag.replace(/["\\]/g, "\\$&")}"]`;
    await page.locator(`.opblock-tag-section:not(.is-open) > ${sel}`).first().click();
    await page.locator(`.opblock-tag-section.is-open > ${sel}`).first().waitFor();
  }
}

// Loads Swagger UI and waits until operations are rendered; returns the spec errors it shows.
async function openSwagger(page) {
  await page.goto(`${BASE}/swagger-ui/`, { waitUntil: "domcontentloaded", timeout: STEP_TIMEOUT_MS });
  // tag sections rendered, or a spec load error rendered instead
  await page.waitForSelector(".opblock-tag-section, .opblock, .errors-wrapper", { timeout: STEP_TIMEOUT_MS });
  const errors = (await page.locator(".errors-wrapper").allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
  if (!(await page.locator(".opblock-tag-section, .opblock").count())) {
    throw new Error(`Swagger UI shows no operations${errors.length ? `; it shows: ${errors.join(" | ").slice(0, 300)}` : ""}`);
  }
  await expandAllTags(page);
  await page.waitForSelector(".opblock", { timeout: STEP_TIMEOUT_MS });
  return errors;
}

// Expands GET /v1/me, Try it out, Execute; returns what the live response shows.
async function tryItOutMe(page) {
  const me = meBlock(page);
  await me.waitFor({ timeout: STEP_TIMEOUT_MS });
  const control = me.locator(".opblock-summary-control");
  if ((await control.getAttribute("aria-expanded")) !== "true") await control.click();
  const tryOut = me.locator("button.try-out__btn");
  await tryOut.waitFor({ timeout: STEP_TIMEOUT_MS });
  if (!/cancel/i.test(await tryOut.textContent())) await tryOut.click();
  await me.locator("button.execute").click();
  const live = me.locator(".live-responses-table tbody tr.response").first();
  await live.locator(".response-col_status").waitFor({ timeout: STEP_TIMEOUT_MS });
  const status = (await live.locator(".response-col_status").textContent()).trim();
  const bodyLoc = live.locator(".response-col_description .highlight-code pre").first();
  const body = (await bodyLoc.count()) ? (await bodyLoc.textContent()) : "";
  const curlLoc = me.locator(".curl-command pre").first();
  const curl = (await curlLoc.count()) ? (await curlLoc.textContent()) : "";
  const urlLoc = me.locator(".request-url pre").first();
  const requestUrl = (await urlLoc.count()) ? (await urlLoc.textContent()).trim() : "";
  let json = null;
  try { json = JSON.parse(body); } catch { /* not JSON */ }
  return { me, live, status, body, json, curl, requestUrl };
}

// Which of a document's tags and operations the rendered page lists (with
// method, path and summary), and what it shows that the document lacks.
async function listedOperations(page, doc) {
  await expandAllTags(page);
  const shown = await page.$$eval(".opblock-tag-section", (sections) => sections.map((s) => {
    const h = s.querySelector("h3.opblock-tag");
    return {
      tag: h?.getAttribute("data-tag"),
      visible: !!h && h.checkVisibility(),
      ops: [...s.querySelectorAll(".opblock")].map((o) => ({
        method: o.querySelector(".opblock-summary-method")?.textContent.trim(),
        path: o.querySelector(".opblock-summary-path")?.getAttribute("data-path"),
        summary: o.querySelector(".opblock-summary-description")?.textContent.trim() ?? "",
        visible: o.checkVisibility(),
      })),
    };
  }));
  const ops = docOperations(doc);
  const docTags = [...new Set([...(doc.tags || []).map((t) => t.name), ...ops.flatMap((o) => o.tags)])];
  const shownTags = new Map(shown.filter((s) => s.tag && s.visible).map((s) => [s.tag, s]));
  const missing = [];
  for (const t of docTags) if (!shownTags.has(t)) missing.push(`tag section "${t}"`);
  let listed = 0;
  for (const o of ops) {
    let okAll = true;
    for (const t of o.tags) {
      const blk = shownTags.get(t)?.ops.find((x) => x.method === o.method && x.path === o.path && x.visible);
      if (!blk) { okAll = false; missing.push(`${o.method} ${o.path} under "${t}"`); continue; }
      if (o.summary && blk.summary !== o.summary.trim()) {
        okAll = false; missing.push(`${o.method} ${o.path} summary "${o.summary}" (shown: "${blk.summary}")`);
      }
    }
    if (okAll) listed++;
  }
  const docKeys = new Set(ops.map((o) => `${o.method} ${o.path}`));
  const extra = shown.flatMap((s) => s.ops.map((o) => `${o.method} ${o.path}`)).filter((k) => !docKeys.has(k));
  if (extra.length) missing.push(`shown but not in the document: ${[...new Set(extra)].join(", ")}`);
  return {
    missing, listed, ops: ops.length, tags: docTags.length,
    tagsShown: docTags.filter((t) => shownTags.has(t)).length,
    noSummary: ops.filter((o) => !o.summary).map((o) => `${o.method} ${o.path}`),
  };
}

// Picks a document in the top bar's definition selector and waits until
// its title is rendered.
async function selectDocument(page, url, title) {
  const select = page.locator(".topbar select").first();
  await select.waitFor({ timeout: STEP_TIMEOUT_MS });
  const options = await select.locator("option").evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
  const option = options.find((o) => o.value === url || o.value.endsWith(url) || o.label === url);
  if (!option) throw new Error(`the definition selector has no ${url} (it has: ${options.map((o) => o.value).join(", ")})`);
  await select.selectOption(option.value);
  await page.waitForFunction((t) => {
    const el = document.querySelector(".information-container .title");
    return el && el.textContent.includes(t);
  }, title, { timeout: STEP_TIMEOUT_MS });
  await page.waitForSelector(".opblock-tag-section, .opblock", { timeout: STEP_TIMEOUT_MS });
}

// ---------------------------------------------------------------- main
async function main() {
  const t0 = Date.now();
  const { chromium } = loadPlaywright();

  // What the server says directly, before any browser is involved.
  const specRes = await fetchJson(`${BASE}/api-docs/openapi.json`);
  if (specRes.status !== 200 || !specRes.json?.paths) {
    report(2, false, `GET /api-docs/openapi.json answered ${specRes.status}, not an OpenAPI document`);
    return;
  }
  const doc = specRes.json;
  const direct = await fetchJson(`${BASE}${ME_PATH}`, { Authorization: `Bearer ${KEY}`, Accept: "application/json" });
  const expectedId = direct.json?.id;
  if (direct.status !== 200 || typeof expectedId !== "string" || !expectedId) {
    report(4, false, `direct GET ${ME_PATH} with the key answered ${direct.status} ${redact(direct.text.slice(0, 200))}; cannot know the key's id`);
    return;
  }
  note(`direct GET ${ME_PATH} with the key -> 200, id ${expectedId}`);

  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "keygate-swagger-ui-"));
  ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
  });
  ctx.setDefaultTimeout(STEP_TIMEOUT_MS);

  // Keep the UI on the server under test: anything else is recorded and refused.
  const external = new Set();
  await ctx.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith(ORIGIN + "/") || u === ORIGIN || u.startsWith("data:") || u.startsWith("blob:")) return route.continue();
    external.add(u);
    return route.abort();
  });
  const pageErrors = [];
  ctx.on("weberror", (e) => pageErrors.push(e.error().message));

  // ---- step 5 first: the same Try it out in a fresh page that never authorized.
  // (persistAuthorization would carry credentials into later pages of this profile.)
  {
    const page = await ctx.newPage();
    await openSwagger(page);
    const stored = await page.evaluate(() => localStorage.getItem("authorized"));
    const r = await tryItOutMe(page);
    const sentAuth = /authorization:|x-api-key:/i.test(r.curl);
    const ok = r.status === "401" && !sentAuth && /unauthorized/i.test(r.body) && !stored;
    report(5, ok, `without Authorize, Try it out GET ${ME_PATH} shows ${r.status}` +
      `${r.json?.code ? ` (code ${r.json.code})` : ""}; request carried credentials: ${sentAuth ? "YES" : "no"}` +
      `${stored ? `; stored authorization present: ${redact(stored)}` : ""}`);
    await page.close();
  }

  const page = await ctx.newPage();

  // ---- step 1: UI loads and renders operations
  const specErrors = await openSwagger(page);
  const title = (await page.locator(".information-container .title").first().textContent().catch(() => "")).trim();
  const nOpblocks = await page.locator(".opblock").count();
  report(1, nOpblocks > 0 && specErrors.length === 0,
    `Swagger UI at ${BASE}/swagger-ui/ rendered ${nOpblocks} operation blocks ("${title.replace(/\s+/g, " ")}")` +
    (specErrors.length ? `; spec errors shown: ${specErrors.join(" | ").slice(0, 300)}` : ""));

  // ---- step 2: every tag and operation of the live document is shown
  {
    const c = await listedOperations(page, doc);
    report(2, c.missing.length === 0,
      `tags: ${c.tagsShown}/${c.tags} shown as sections; ` +
      `operations: ${c.listed}/${c.ops} listed with method, path and summary` +
      (c.missing.length ? `; missing or wrong: ${c.missing.join("; ")}` : ""));
    if (c.noSummary.length) note(`operations without a summary: ${c.noSummary.join(", ")}`);
  }

  // ---- step 3: Authorize with the key in the bearer scheme
  {
    await page.locator(".auth-wrapper button.authorize").click();
    const modal = page.locator(".modal-ux");
    await modal.waitFor();
    const schemes = await modal.locator(".auth-container h4 code").allTextContents();
    const bearer = modal.locator(".auth-container").filter({ has: page.locator("h4 code", { hasText: /^bearer_auth$/ }) });
    const apiKey = modal.locator(".auth-container").filter({ has: page.locator("h4 code", { hasText: /^api_key$/ }) });
    const problems = [];
    if ((await bearer.count()) !== 1) problems.push(`bearer_auth scheme not found in the modal (schemes: ${schemes.join(", ")})`);
    else {
      await bearer.locator("input#auth-bearer-value, input[aria-label=auth-bearer-value]").first().fill(KEY);
      await bearer.locator("button.authorize").click();
      // an authorized http scheme shows a Logout button instead of Authorize
      await bearer.locator("button", { hasText: /^Logout$/ }).waitFor().catch(() => problems.push("bearer_auth did not switch to Logout"));
      if ((await apiKey.count()) && (await apiKey.locator("button", { hasText: /^Logout$/ }).count())) problems.push("api_key also shows as authorized");
    }
    await modal.locator("button.close-modal").click();
    await modal.waitFor({ state: "detached" });
    const topLocked = await page.locator(".auth-wrapper button.authorize").evaluate((b) => b.classList.contains("locked"));
    if (!topLocked) problems.push("the Authorize button is not shown locked");
    const locks = await page.$$eval(".opblock", (els) => els.map((o) => ({
      key: `${o.querySelector(".opblock-summary-method")?.textContent.trim()} ${o.querySelector(".opblock-summary-path")?.getAttribute("data-path")}`,
      lock: o.querySelector(".authorization__btn")?.getAttribute("aria-label") ?? null,
    })));
    const secured = new Map(docOperations(doc).map((o) => [`${o.method} ${o.path}`, o.secured]));
    let nLocked = 0, nSecured = 0;
    for (const l of locks) {
      if (secured.get(l.key)) {
        nSecured++;
        if (l.lock === "authorization button locked") nLocked++;
        else problems.push(`${l.key} lock shows "${l.lock}"`);
      } else if (l.lock) problems.push(`${l.key} needs no auth but shows "${l.lock}"`);
    }
    const stored = await page.evaluate(() => localStorage.getItem("authorized"));
    report(3, problems.length === 0,
      `Authorize modal schemes [${schemes.join(", ")}]; key entered for bearer_auth; ` +
      `${nLocked}/${nSecured} secured operation locks show locked; ${locks.length - nSecured} open operations show no lock` +
      (problems.length ? `; problems: ${problems.join("; ")}` : ""));
    if (stored) note(`persistAuthorization is on: the key is kept in this browser's localStorage ("authorized", ${stored.includes(KEY) ? "in clear text" : "not in clear text"})`);
  }

  // ---- step 4: Try it out on GET /v1/me, authorized
  let r;
  {
    r = await tryItOutMe(page);
    const sentBearer = r.curl.includes(`Bearer ${KEY}`);
    const ok = r.status === "200" && r.json?.id === expectedId && sentBearer;
    report(4, ok, `authorized Try it out GET ${ME_PATH} (${r.requestUrl}) shows ${r.status}, ` +
      `body id ${r.json?.id ?? "(none)"} ${r.json?.id === expectedId ? "==" : "!="} direct id ${expectedId}; ` +
      `curl sends Authorization: Bearer <KEY>: ${sentBearer ? "yes" : "NO"}` +
      (r.status !== "200" ? `; body: ${redact(r.body.replace(/\s+/g, " ").slice(0, 200))}` : ""));
    const extraHeaders = [...r.curl.matchAll(/-H '([^:']+):/g)].map((m) => m[1]).filter((h) => !/^(accept|authorization)$/i.test(h));
    if (extraHeaders.length) note(`Try it out on ${ME_PATH} also sent prefilled headers: ${extraHeaders.join(", ")}`);
  }

  // ---- step 6: screenshot of the executed response
  {
    // frame it from "Request URL" down: status, body and headers of the live response
    const anchor = r.me.locator(".request-url, h4:has-text('Server response')").first();
    await anchor.evaluate((el) => el.scrollIntoView({ block: "start" }));
    await page.evaluate(() => window.scrollBy(0, -12));
    const box = await r.live.locator(".response-col_status").boundingBox();
    const vp = page.viewportSize();
    const inView = !!box && box.y >= 0 && box.y + box.height <= vp.height;
    fs.mkdirSync(path.dirname(path.resolve(SHOT)), { recursive: true });
    // the curl box (which carries the key) is masked in case it is in view
    await page.screenshot({ path: SHOT, mask: [r.me.locator(".curl-command")], maskColor: "#888" });
    const size = fs.statSync(SHOT).size;
    report(6, inView && size > 1000, `screenshot of the executed ${ME_PATH} response (status cell ${inView ? "in view" : "NOT in view"}) saved to ${SHOT} (${size} bytes)`);
  }

  // ---- step 7: every other document of the selector lists its operations
  {
    const others = (process.env.SWAGGER_UI_DOCS || "").split(/\s+/).filter((u) => u && !u.endsWith("/openapi.json"));
    const problems = [];
    const counted = [];
    for (const url of others) {
      const res = await fetchJson(`${BASE}${url}`);
      if (res.status !== 200 || !res.json?.paths) { problems.push(`GET ${url} answered ${res.status}`); continue; }
      try {
        await selectDocument(page, url, res.json.info?.title ?? "");
        const c = await listedOperations(page, res.json);
        counted.push(`${url}: ${c.listed}/${c.ops} operations, ${c.tagsShown}/${c.tags} tags`);
        for (const m of c.missing) problems.push(`${url}: ${m}`);
      } catch (e) {
        problems.push(`${url}: ${redact(e.message).split("\n")[0]}`);
      }
    }
    report(7, problems.length === 0,
      others.length
        ? `the definition selector shows ${counted.join("; ")}${problems.length ? `; problems: ${problems.join("; ")}` : ""}`
        : "only the native document is served (no selector to check)");
  }

  if (external.size) note(`blocked requests to other origins: ${[...external].join(", ")}`);
  if (pageErrors.length) note(`page errors: ${pageErrors.join(" | ").slice(0, 500)}`);
  note(`browser part took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}

let code = 0;
try {
  await main();
} catch (e) {
  if (!exiting) console.log(`FAIL error after ${results.length} checks: ${redact(e?.message ?? e).split("\n").slice(0, 6).join(" / ")}`);
  code = 2;
}
if (exiting) {
  // the overall timeout or a signal is already closing down; let it finish
  await cleanup();
  await new Promise(() => {});
}
clearTimeout(overall);
const failed = results.filter((x) => !x.ok).map((x) => x.step);
const missing = [1, 2, 3, 4, 5, 6, 7].filter((s) => !results.some((x) => x.step === s));
if (!code && (failed.length || missing.length)) code = 1;
console.log(code === 0
  ? `swagger_ui: all ${results.length} checks passed`
  : `swagger_ui: FAILED (failed steps: ${failed.join(",") || "none"}; not reached: ${missing.join(",") || "none"})`);
await cleanup();
process.exit(code);
