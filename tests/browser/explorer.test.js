/*
 * explorer.test.js — the explorer page (GET /) in a real browser: Debian's
 * chromium driven by playwright-core against `tempscale serve`, every number
 * the page shows compared with the CLI (`tempscale ... --json`, and the text
 * tables where the format matters). Saves explorer-700.png and
 * explorer-1400.png (full page) into the build folder.
 *
 * Run by ctest (tests/browser.cmake): node tests/browser/explorer.test.js
 */
"use strict";

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { execFileSync } = require("node:child_process");
const path = require("node:path");
const h = require("./harness");

const pw = h.loadPlaywright();
h.checkChromium();

const PROMPT = "In the future, AI will"; /* the CLI's default prompt */
const TOL = 1e-3;                        /* issue 11: shown numbers vs the CLI */

let server, browser, page, base;
const external = [];                     /* requests that left the server: must stay empty */
const pageErrors = [];                   /* uncaught exceptions in the page: must stay empty */
const measured = {};                     /* agreement figures, printed at the end */

/* The page as a user opens it: wait for the bars (no click). */
async function openPage(width) {
  browser = await h.launchBrowser(pw, width);
  page = browser.context.pages()[0] || (await browser.context.newPage());
  page.setDefaultTimeout(60000);
  page.on("request", (r) => { if (!r.url().startsWith(base) && !r.url().startsWith("data:")) external.push(r.url()); });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(base + "/");
  await page.waitForSelector("#bars-body tr[data-id]");
}

/* Type a temperature into the T field (as a user: text + Enter). */
async function setT(text) {
  await page.fill("#t-input", text);
  await page.press("#t-input", "Enter");
}

async function statValue(id) {
  return Number(await page.getAttribute("#" + id, "data-value"));
}
async function statText(id) {
  return (await page.textContent("#" + id)).trim();
}

/* The CLI's text table (NO_COLOR), for the shown formats. */
function cliText(...args) {
  return execFileSync(h.CLI, args, { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 120000 });
}

before(async () => {
  server = await h.startServer(["--parallel", "2"], { reuse: true });
  base = server.url;
  await openPage(1400);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
  console.log("# agreement with the CLI: " + JSON.stringify(measured));
});

test("on load the bars show the CLI's top-10 without any click", async () => {
  const rows = await page.$$eval("#bars-body tr[data-id]", (trs) => trs.map((tr) => ({
    id: Number(tr.dataset.id), logit: Number(tr.dataset.logit), prob: Number(tr.dataset.prob),
    probTopk: Number(tr.dataset.probTopk),
    cells: [...tr.querySelectorAll("td")].map((td) => td.textContent.trim()),
  })));
  assert.equal(rows.length, 10);
  const ref = h.cliJson("top", "--prompt", PROMPT, "--k", "10");
  /* the CLI's table: rank, token, id, logit (%.3f), prob, prob in top-k (4 decimals / %.1e) */
  const table = cliText("top", "--prompt", PROMPT, "--k", "10").split("\n")
    .map((l) => l.match(/^\s*(\d+)\s+('(?:[^'\\]|\\.)*')\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$/)).filter(Boolean);
  assert.equal(table.length, 10, "parsed the CLI's top table");
  let dmax = 0;
  rows.forEach((r, i) => {
    const e = ref.top[i];
    assert.equal(r.id, e.id, `rank ${i + 1} id`);
    dmax = Math.max(dmax, Math.abs(r.logit - e.logit), Math.abs(r.prob - e.prob), Math.abs(r.probTopk - e.prob_topk));
    const [, rank, tok, id, logit, prob, probk] = table[i];
    assert.deepEqual([r.cells[0], r.cells[1], r.cells[2], r.cells[3], r.cells[5], r.cells[6]],
      [rank, tok, id, logit, prob, probk], `rank ${i + 1}: the row reads as the CLI's`);
  });
  assert.ok(dmax < 1e-12, `logit / prob / prob_topk within 1e-12 of the CLI (max ${dmax})`);
  measured.bars_T1_max_abs_diff = dmax;
  /* the page's own check against the server's sweep */
  assert.ok(Number(await page.getAttribute("#selfcheck", "data-max-dp")) < 1e-12);
});

test("T = 0.1 and T = 5: top-1 probability and entropy agree with tempscale sweep --json", async () => {
  const ref = h.cliJson("sweep", "--prompt", PROMPT, "--temperatures", "0.1,5", "--k", "10");
  const table = cliText("sweep", "--prompt", PROMPT, "--temperatures", "0.1,5", "--k", "10");
  for (const [i, T] of [[0, "0.1"], [1, "5"]]) {
    await setT(T);
    const r = ref.results[i];
    const top1 = await statValue("stat-top1"), H = await statValue("stat-entropy");
    const top1Text = await statText("stat-top1"), HText = await statText("stat-entropy");
    assert.ok(Math.abs(Number(top1Text) - r.top1_prob) <= TOL, `T=${T} shown top-1 ${top1Text} vs ${r.top1_prob}`);
    assert.ok(Math.abs(Number(HText) - r.entropy_nats) <= TOL, `T=${T} shown entropy ${HText} vs ${r.entropy_nats}`);
    assert.ok(Math.abs(top1 - r.top1_prob) < 1e-12 && Math.abs(H - r.entropy_nats) < 1e-12,
      `T=${T} full precision: top-1 ${top1} vs ${r.top1_prob}, H ${H} vs ${r.entropy_nats}`);
    /* the CLI's per-temperature table prints the same entropy text */
    assert.ok(new RegExp(`^\\s*${T.replace(".", "\\.")}\\s+${HText.replace(".", "\\.")}\\s`, "m").test(table),
      `T=${T}: entropy ${HText} as in the CLI's table`);
    assert.equal(await statText("stat-bits"), (r.entropy_nats / Math.LN2).toFixed(4));
    assert.equal(await statText("stat-perp"), r.perplexity.toFixed(1));
    measured[`T${T}`] = { top1_shown: top1Text, top1_cli: r.top1_prob, entropy_shown: HText, entropy_cli: r.entropy_nats,
      full_precision_diff: Math.max(Math.abs(top1 - r.top1_prob), Math.abs(H - r.entropy_nats)) };
  }
  /* exact 0 and infinity */
  await page.click("#t-zero");
  assert.equal(await statText("stat-entropy"), "0.0000");
  assert.equal(await statText("stat-top1"), "1.0000");
  await page.click("#t-inf");
  assert.equal(await statText("stat-entropy"), Math.log(ref.vocab_size).toFixed(4));
  assert.equal(await page.inputValue("#t-input"), "inf");
  await page.click("#t-one");
  assert.equal(await statText("stat-t"), "1");
});

test("the slider works from the keyboard (log scale, arrow keys)", async () => {
  await setT("1");
  await page.focus("#t-slider");
  const outline = await page.$eval("#t-slider", (e) => getComputedStyle(e).outlineStyle);
  assert.notEqual(outline, "none", "the focused slider shows a focus ring");
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.inputValue("#t-input"), "1.02", "one arrow step = 0.01 in log10 T");
  await page.keyboard.press("End");
  assert.equal(await page.inputValue("#t-input"), "100");
  await page.keyboard.press("Home");
  assert.equal(await page.inputValue("#t-input"), "0.01");
  const H = await statValue("stat-entropy");
  const ref = h.cliJson("sweep", "--prompt", PROMPT, "--temperatures", "0.01", "--k", "1");
  assert.ok(Math.abs(H - ref.results[0].entropy_nats) < 1e-12);
});

test("a target entropy moves the slider to the CLI's temperature", async () => {
  const ref = h.cliJson("sweep", "--prompt", PROMPT, "--temperatures", "1", "--target-entropy", "2,8", "--k", "1");
  for (const [i, target] of [[0, "2"], [1, "8"]]) {
    await page.fill("#target-h", target);
    await page.press("#target-h", "Enter");
    const T = await statValue("stat-t"), Tcli = ref.targets[i].temperature;
    assert.ok(Math.abs(T - Tcli) / Tcli < 1e-9, `H=${target}: T ${T} vs CLI ${Tcli}`);
    assert.equal(await statText("stat-entropy"), Number(target).toFixed(4));
    const slider = Number(await page.inputValue("#t-slider"));
    assert.ok(Math.abs(slider - Math.log10(T)) <= 0.005 + 1e-9, `slider at log10 T to its step 0.01 (${slider})`);
    measured[`target_${target}`] = { T_page: T, T_cli: Tcli, rel_diff: Math.abs(T - Tcli) / Tcli };
  }
  await page.fill("#target-h", "11");
  await page.press("#target-h", "Enter");
  assert.match(await page.textContent("#target-out"), /outside/);
  await setT("1");
});

/*
 * The chain view against the sampler itself: `generate --max-new-tokens 1
 * --logprobs 20` reports the distribution the first token was drawn from
 * (top_sampled: its 20 most likely kept tokens, fewer when fewer are kept;
 * entropy_sampled_nats over every kept token).
 */
const CHAINS = [
  { order: "hf", T: "0.7", k: "50", p: "0.9", m: "0.05" },
  { order: "llama", T: "0.7", k: "50", p: "0.9", m: "0.05" },
  { order: "hf", T: "2", k: "0", p: "0.5", m: "0" },
  { order: "llama", T: "2", k: "0", p: "0.5", m: "0" },
  { order: "hf", T: "0.5", k: "10", p: "1", m: "0.2" },
  { order: "llama", T: "0", k: "3", p: "1", m: "0" },
  { order: "hf", T: "inf", k: "5", p: "1", m: "0" },
];

test("the sampler chain matches the CLI's sampled distribution in both orders", async () => {
  await page.selectOption("#chain-rows", "25");
  measured.chain = [];
  for (const c of CHAINS) {
    await page.check(`input[name=order][value=${c.order}]`);
    await page.fill("#top-k", c.k);
    await page.fill("#top-p", c.p);
    await page.fill("#min-p", c.m);
    await setT(c.T);
    const ref = h.cliJson("generate", "--prompt", PROMPT, "--temperature", c.T, "--top-k", c.k, "--top-p", c.p,
      "--min-p", c.m, "--order", c.order, "--max-new-tokens", "1", "--logprobs", "20", "--seed", "1");
    const st = ref.steps[0];
    const kept = Number(await page.getAttribute("#chain-kept", "data-value"));
    const H = Number(await page.getAttribute("#chain-entropy", "data-value"));
    const rows = await page.$$eval("#chain-table tbody tr", (trs) => trs.map((tr) => ({
      id: Number(tr.dataset.id), p: Number(tr.dataset.finalP) })));
    const n = st.top_sampled.length;
    if (n < 20) assert.equal(kept, n, `${JSON.stringify(c)}: kept tokens`);
    else assert.ok(kept >= 20, `${JSON.stringify(c)}: at least 20 kept`);
    let dmax = Math.abs(H - st.entropy_sampled_nats);
    st.top_sampled.forEach((a, i) => {
      assert.equal(rows[i].id, a.id, `${JSON.stringify(c)}: rank ${i + 1}`);
      dmax = Math.max(dmax, Math.abs(rows[i].p - Math.exp(a.logprob)));
    });
    for (let i = n; i < Math.min(rows.length, kept); i++) assert.ok(rows[i].p > 0);
    for (let i = kept; i < rows.length; i++) assert.equal(rows[i].p, 0, "dropped rows have p = 0");
    assert.ok(dmax < 1e-9, `${JSON.stringify(c)}: final p and entropy within 1e-9 (max ${dmax})`);
    /* the step that removed a token is marked */
    if (kept < 25) {
      const marks = await page.$$eval("#chain-table tbody td.removed", (tds) => tds.length);
      assert.ok(marks > 0, "removed tokens are marked");
    }
    measured.chain.push({ ...c, kept, max_abs_diff: dmax });
  }
  /* HF and llama.cpp orders differ at T = 2, top-p 0.5 (the truncation sees different distributions) */
  const k = measured.chain.filter((r) => r.T === "2").map((r) => r.kept);
  assert.ok(k[0] > k[1], `HF keeps more than llama.cpp at T = 2 (${k})`);
  await page.click("#preset-hf");
  await setT("1");
});

test("a generation streams token by token and matches tempscale generate", async () => {
  await page.fill("#gen-max", "40");
  await page.fill("#gen-seed", "7");
  /* tokens are on the page while the request is still running: a MutationObserver sees every
     change of the output as it happens (polling from here could miss a short generation on a
     busy machine), and records how many tokens were first shown while Stop was still enabled */
  await page.evaluate(() => {
    window.__tokensWhileRunning = 0;
    const out = document.querySelector("#gen-output");
    window.__genObserver = new MutationObserver(() => {
      const n = out.querySelectorAll(".tok").length;
      if (!document.querySelector("#gen-stop").disabled && n > 0 && window.__tokensWhileRunning === 0) window.__tokensWhileRunning = n;
    });
    window.__genObserver.observe(out, { childList: true, subtree: true });
  });
  await page.click("#gen-go");
  await page.waitForFunction(() => / tokens in .* s · finish_reason /.test(document.querySelector("#gen-status").textContent) &&
    !document.querySelector("#gen-go").disabled, null, { timeout: 120000 });
  const early = await page.evaluate(() => { window.__genObserver.disconnect(); return window.__tokensWhileRunning; });
  assert.ok(early >= 1, "tokens were on the page while the generation was running");
  const ids = await page.$$eval("#gen-output .tok", (t) => t.map((s) => Number(s.dataset.id)));
  measured.streaming = { tokens_seen_while_running: early, tokens_total: ids.length };
  assert.ok(early < ids.length, `tokens arrived one by one (${early} of ${ids.length} on the page while running)`);
  const ref = h.cliJson("generate", "--prompt", PROMPT, "--temperature", "1", "--top-k", "50", "--max-new-tokens", "40",
    "--seed", "7", "--logprobs", "10");
  assert.deepEqual(ids, ref.steps.map((s) => s.id), "same tokens as the CLI for the same seed");
  assert.match(await page.textContent("#gen-status"), /seed 7/);
  /* tokens are coloured by probability */
  const cls = await page.$eval("#gen-output .tok", (s) => s.className);
  assert.match(cls, /\bb[0-4]\b/);
  /* the alternatives of step 3: T = 1 (raw) and as sampled, from the keyboard */
  await page.focus("#gen-output .tok[data-i='0']");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Enter");
  const tables = await page.$$eval("#gen-alts table", (ts) => ts.map((t) =>
    [...t.querySelectorAll("tbody tr")].map((tr) => tr.querySelectorAll("td")[2].textContent.trim())));
  const s3 = ref.steps[2];
  assert.deepEqual(tables[0], s3.top_raw.map((a) => String(a.id)), "raw alternatives");
  assert.deepEqual(tables[1], s3.top_sampled.map((a) => String(a.id)), "sampled alternatives");
});

test("coupled samples at several T side by side equal tempscale compare --coupled", async () => {
  await page.fill("#cmp-temps", "0.3, 1, 3");
  await page.fill("#cmp-samples", "2");
  await page.fill("#cmp-max", "12");
  await page.fill("#cmp-seed", "42");
  await page.click("#cmp-go");
  await page.waitForFunction(() => !document.querySelector("#cmp-go").disabled, null, { timeout: 120000 });
  assert.equal((await page.textContent("#cmp-error")).trim(), "");
  const texts = await page.$$eval("#cmp-grid .cmp-col", (cols) => cols.map((c) =>
    [...c.querySelectorAll(".cmp-sample")].map((p) => p.textContent.replace("│", ""))));
  const ref = h.cliJson("compare", "--prompt", PROMPT, "--temperatures", "0.3,1,3", "--samples", "2",
    "--max-new-tokens", "12", "--coupled", "--seed", "42", "--top-k", "50");
  const pr = ref.prompts[0];
  assert.deepEqual(texts[0], [pr.greedy]);
  pr.results.forEach((r, i) => assert.deepEqual(texts[i + 1], r.samples.map((s) => s.text), `T = ${r.temperature}`));
  const marks = await page.$$eval("#cmp-grid .cmp-sample", (ps) => ps.map((p) => p.dataset.divergesAt));
  const want = pr.results.flatMap((r) => r.samples.map((s) => String(s.diverges_at)));
  assert.deepEqual(marks.slice(1), want, "divergence from greedy marked where the CLI says");
});

test("toy logits: the five panels equal tempscale softmax", async () => {
  const check = async (logits) => {
    const ref = h.cliJson("softmax", "--logits", logits, "--temperatures", "0.1,0.5,1,2,5");
    const panels = await page.$$eval("#toy-panels .toy-panel", (ps) => ps.map((p) => ({
      T: Number(p.dataset.t), probs: JSON.parse(p.dataset.probs), H: Number(p.dataset.entropy) })));
    assert.equal(panels.length, 5);
    let dmax = 0;
    panels.forEach((p, i) => {
      const r = ref.results[i];
      assert.equal(p.T, r.temperature);
      r.probs.forEach((q, j) => { dmax = Math.max(dmax, Math.abs(q - p.probs[j])); });
      dmax = Math.max(dmax, Math.abs(p.H - r.entropy_nats));
    });
    assert.ok(dmax < 1e-12, `toy ${logits}: within 1e-12 (max ${dmax})`);
    return dmax;
  };
  measured.toy_default = await check("2,1,0.5,0.2,0.1");
  await page.fill("#toy-0", "3.3");
  await page.fill("#toy-4", "-inf");
  measured.toy_edited = await check("3.3,1,0.5,0.2,-inf");
  await page.click("#toy-reset");
});

test("keyboard: every control is reachable with Tab", async () => {
  await page.focus("#prompt");
  const seen = new Set();
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => document.activeElement && (document.activeElement.id ||
      document.activeElement.name || document.activeElement.className));
    seen.add(id);
  }
  for (const id of ["run", "t-slider", "t-input", "t-zero", "t-one", "t-inf", "k-select", "target-h", "target-go",
    "order", "top-k", "top-p", "min-p", "gen-max", "gen-seed", "gen-go", "cmp-temps", "cmp-go", "toy-0"])
    assert.ok(seen.has(id), `${id} is in the tab order (seen: ${[...seen].join(" ")})`);
});

test("readable at 700 and 1400 px: no horizontal overflow; screenshots", async () => {
  /* a state worth looking at: T = 0.7, a chain that removes tokens, a selected token */
  await page.fill("#target-h", "");
  await page.fill("#top-p", "0.9");
  await page.fill("#min-p", "0.05");
  await page.selectOption("#chain-rows", "25");
  await setT("0.7");
  await page.click("#gen-output .tok[data-i='4']");
  for (const width of [1400, 700]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(200);
    const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(over <= 0, `${width} px: the page is ${over} px wider than the window`);
    const file = path.join(h.BUILD, `explorer-${width}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`# screenshot ${file}`);
  }
  assert.deepEqual(external, [], "the page made no request outside the server");
  assert.deepEqual(pageErrors, [], "no uncaught exception in the page");
});

test("with --api-key the page asks for the key and then works", async () => {
  const key = "test-key-" + process.pid;
  const guarded = await h.startServer(["--api-key", key]);
  try {
    await page.goto(guarded.url + "/");
    await page.waitForFunction(() => /API key/.test(document.querySelector("#prompt-error").textContent));
    assert.equal(await page.$eval("#key-box", (d) => d.open), true, "the key box opens");
    await page.fill("#api-key", key);
    await page.click("#api-key-save");
    await page.waitForSelector("#bars-body tr[data-id]");
    const rows = await page.$$eval("#bars-body tr[data-id]", (t) => t.length);
    assert.equal(rows, 10);
  } finally {
    await guarded.stop();
  }
});
