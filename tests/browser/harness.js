/*
 * harness.js — what the browser tests share: start `tempscale serve` on a
 * free loopback port and stop it (bounded in time), run the CLI for the
 * reference numbers, and launch Debian's chromium through playwright-core.
 *
 * Environment (set by tests/browser.cmake): TS_CLI (the tempscale binary),
 * TS_SOURCE_DIR (the repository), TS_BUILD_DIR (where screenshots go).
 * TS_EXPLORER_URL=http://host:port tests an already running server instead.
 * Missing chromium or playwright-core: exit 77 (ctest: skipped), except
 * with TS_REQUIRE_ALL=1 (.ci/run) or CI=true, where `make test-deps`
 * installed them and their absence is a failure.
 */
"use strict";

const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");

const SRC = process.env.TS_SOURCE_DIR || path.resolve(__dirname, "../..");
const CLI = process.env.TS_CLI || path.join(SRC, "build/tempscale");
const BUILD = process.env.TS_BUILD_DIR || path.join(SRC, "build");
const CHROMIUM = process.env.TS_CHROMIUM || "/usr/bin/chromium";

/* Skip (77) when a tool is missing on a developer machine; fail under CI / TS_REQUIRE_ALL. */
function requireOrSkip(what, fn) {
  try {
    return fn();
  } catch (e) {
    const msg = `browser tests: ${what} is missing (${e.message.split("\n")[0]}); ` +
      "run `make test-deps` (Debian's chromium and nodejs, then npm ci in tests/node)";
    if (process.env.TS_REQUIRE_ALL === "1" || process.env.CI === "true") {
      console.error(msg);
      process.exit(1);
    }
    console.log("SKIP " + msg);
    process.exit(77);
  }
}

function loadPlaywright() {
  return requireOrSkip("playwright-core", () => {
    const tried = [path.join(SRC, "tests/node/node_modules/playwright-core")];
    if (process.env.TS_PLAYWRIGHT) tried.unshift(process.env.TS_PLAYWRIGHT);
    for (const p of tried) if (fs.existsSync(p)) return require(p);
    throw new Error("not found in " + tried.join(", "));
  });
}

function checkChromium() {
  requireOrSkip("chromium", () => fs.accessSync(CHROMIUM, fs.constants.X_OK));
}

/* A free TCP port on 127.0.0.1 (the kernel picks it; we release it at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/*
 * Start `tempscale serve --host 127.0.0.1 --port P [extra]` and wait until
 * GET / answers (at most `timeoutMs`). Returns {url, stop, log}. stop() sends
 * SIGTERM, then SIGKILL after 5 s; it is also called at process exit.
 * reuse: test the server at TS_EXPLORER_URL instead, when that is set.
 */
async function startServer(extra = [], { reuse = false, timeoutMs = 60000 } = {}) {
  if (process.env.TS_EXPLORER_URL && reuse)
    return { url: process.env.TS_EXPLORER_URL, stop: async () => {}, log: () => "" };
  const port = await freePort();
  const args = ["serve", "--host", "127.0.0.1", "--port", String(port), ...extra];
  const child = spawn(CLI, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let out = "";
  child.stdout.on("data", (b) => { out += b; });
  child.stderr.on("data", (b) => { out += b; });
  let exited = null;
  child.on("exit", (code, sig) => { exited = { code, sig }; });
  const kill = () => { if (!exited) child.kill("SIGKILL"); };
  process.on("exit", kill);
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    if (exited) throw new Error(`tempscale ${args.join(" ")} exited (${JSON.stringify(exited)}):\n${out}`);
    if (Date.now() - t0 > timeoutMs) {
      kill();
      throw new Error(`tempscale serve did not answer GET / within ${timeoutMs} ms:\n${out}`);
    }
    try {
      const res = await fetch(url + "/", { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch (_) { /* not listening yet */ }
    await sleep(200);
  }
  async function stop() {
    if (exited) return;
    child.kill("SIGTERM");
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    kill();
  }
  return { url, stop, log: () => out };
}

/* Run the CLI with --json and parse its one line. */
function cliJson(...args) {
  const out = execFileSync(CLI, [...args, "--json"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" },
    timeout: 120000 });
  return JSON.parse(out);
}

/*
 * Debian's chromium, headless, with the flags this machine needs (no
 * background networking: the network is closed) and a fresh profile.
 */
async function launchBrowser(pw, width) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ts-chromium-"));
  const context = await pw.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 60000,
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

module.exports = { SRC, CLI, BUILD, loadPlaywright, checkChromium, startServer, cliJson, launchBrowser, sleep };
