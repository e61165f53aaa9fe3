// openai_client.mjs — the official OpenAI Node client (npm "openai", pinned in
// package-lock.json), unchanged, against `tempscale serve` with base_url
// http://127.0.0.1:PORT/v1 and an API key:
//   completions plain, streamed, n=3, logprobs=5, seed reproducible, stop,
//   401 without the right key, 400 for temperature -1, and the greedy text
//   equal to `tempscale generate --temperature 0` for the same prompt/length.
// Every request and response goes into a transcript,
// $TS_BUILD_DIR/openai_transcript.txt (bodies of streams included).
// Env: TS_CLI (the binary), TEMPSCALE_MODELS. Exit 0 ok, 1 on a failure.
import { spawn, execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import OpenAI from "openai";

const CLI = process.env.TS_CLI || "build/tempscale";
const KEY = "sk-tempscale-test-" + process.pid;
const OUT = path.join(process.env.TS_BUILD_DIR || ".", "openai_transcript.txt");
const failures = [];
const transcript = [];

function check(ok, what) {
  console.log((ok ? "ok   " : "FAIL ") + what);
  if (!ok) failures.push(what);
  return ok;
}

// Start the server on a free port and read its URL from the first lines.
function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(CLI, ["serve", "--port", "0", "--parallel", "2", "--api-key", KEY], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "", err = "";
    const timer = setTimeout(() => reject(new Error("server did not start: " + out + err)), 60000);
    p.stderr.on("data", (d) => (err += d));
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/explorer\s+(http:\/\/\S+?)\/\s*\n/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc: p, url: m[1], stderr: () => err });
      }
    });
    p.on("exit", (code) => reject(new Error("server exited " + code + ": " + err)));
  });
}

// fetch that writes every exchange to the transcript (streams: the raw SSE text).
function recordingFetch(label) {
  return async (url, init = {}) => {
    const res = await fetch(url, init);
    const entry = {
      client: label,
      request: `${init.method || "GET"} ${new URL(url).pathname}`,
      body: init.body ? String(init.body) : "",
      status: res.status,
      response: "",
    };
    transcript.push(entry);
    res.clone().text().then((t) => (entry.response = t), () => (entry.response = "<unread>"));
    return res;
  };
}

function cliGenerate(prompt, n) {
  const out = execFileSync(CLI, ["generate", "--prompt", prompt, "--temperature", "0",
    "--max-new-tokens", String(n), "--json"], { stdio: ["ignore", "pipe", "ignore"] });
  return JSON.parse(out.toString()).text;
}

async function expectError(promise, status) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e instanceof OpenAI.APIError && e.status === status ? e : null;
  }
}

async function main() {
  const srv = await startServer();
  const base = srv.url + "/v1";
  const client = new OpenAI({ apiKey: KEY, baseURL: base, maxRetries: 0, timeout: 120000,
    fetch: recordingFetch("key") });
  const model = "tiny-shakespeare";
  try {
    const models = await client.models.list();
    check(models.data.length === 1 && models.data[0].id === model, "models.list(): " + models.data[0].id);

    // Plain.
    const plain = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 16,
      temperature: 0.8, seed: 11 });
    const c0 = plain.choices[0];
    check(plain.object === "text_completion" && typeof c0.text === "string" && c0.text.length > 0 &&
      c0.finish_reason === "length" && plain.usage.completion_tokens === 16 &&
      plain.usage.prompt_tokens === 3 && plain.usage.total_tokens === 19,
      `completions plain: ${JSON.stringify(c0.text)} (usage 3 + 16)`);

    // Streamed: the same text as plain for the same seed, chunk by chunk.
    const stream = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 16,
      temperature: 0.8, seed: 11, stream: true });
    let text = "", chunks = 0, finish = null;
    for await (const ch of stream) {
      chunks++;
      text += ch.choices[0].text;
      if (ch.choices[0].finish_reason) finish = ch.choices[0].finish_reason;
    }
    check(text === c0.text && chunks >= 2 && finish === "length",
      `completions streamed: ${chunks} chunks, the same text as plain (seed 11)`);

    // n = 3.
    const three = await client.completions.create({ model, prompt: "JULIET:", max_tokens: 8,
      n: 3, seed: 5 });
    const idx = three.choices.map((c) => c.index).sort();
    check(three.choices.length === 3 && idx.join() === "0,1,2" &&
      three.usage.completion_tokens === 24, "n=3: three choices, indices 0..2, 24 tokens");

    // logprobs = 5.
    const lp = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 6,
      logprobs: 5, seed: 2 });
    const L = lp.choices[0].logprobs;
    const offsOk = L.text_offset.every((o, i) => i === 0 || o >= L.text_offset[i - 1]);
    check(L && L.tokens.length === 6 && L.token_logprobs.length === 6 &&
      L.token_logprobs.every((x) => typeof x === "number" && x <= 0) &&
      L.top_logprobs.length === 6 &&
      L.top_logprobs.every((d) => Object.keys(d).length >= 1 && Object.keys(d).length <= 5) &&
      L.top_logprobs.filter((d) => Object.keys(d).length === 5).length >= 5 &&
      L.tokens.join("") === lp.choices[0].text && offsOk,
      "logprobs=5: tokens, token_logprobs <= 0, top_logprobs of 5, text_offset rising");

    // Seed: reproducible; another seed differs.
    const a = await client.completions.create({ model, prompt: "KING:", max_tokens: 24, seed: 1234 });
    const b = await client.completions.create({ model, prompt: "KING:", max_tokens: 24, seed: 1234 });
    const d = await client.completions.create({ model, prompt: "KING:", max_tokens: 24, seed: 4321 });
    check(a.choices[0].text === b.choices[0].text && a.choices[0].text !== d.choices[0].text,
      "seed 1234 twice: the same text; seed 4321: another");

    // stop: cut before the stop string, finish_reason "stop".
    const greedy = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 24,
      temperature: 0 });
    const g = greedy.choices[0].text;
    const stopAt = g.indexOf(" man");
    const st = await client.completions.create({ model, prompt: "ROMEO:", max_tokens: 24,
      temperature: 0, stop: [" man", "zzz"] });
    check(stopAt > 0 && st.choices[0].text === g.slice(0, stopAt) &&
      st.choices[0].finish_reason === "stop",
      `stop [" man"]: ${JSON.stringify(st.choices[0].text)}, finish_reason stop`);

    // Greedy equals the CLI for the same prompt and length.
    for (const [prompt, n] of [["ROMEO:", 24], ["In the future, AI will", 40]]) {
      const r = await client.completions.create({ model, prompt, max_tokens: n, temperature: 0 });
      const cli = cliGenerate(prompt, n);
      check(r.choices[0].text === cli,
        `greedy ${JSON.stringify(prompt)} x ${n}: the text equals \`tempscale generate --temperature 0\``);
    }

    // 401 without the right key; 400 for temperature -1.
    const wrong = new OpenAI({ apiKey: "sk-wrong", baseURL: base, maxRetries: 0,
      fetch: recordingFetch("wrong key") });
    const e401 = await expectError(wrong.completions.create({ model, prompt: "x", max_tokens: 1 }), 401);
    check(e401 instanceof OpenAI.AuthenticationError && e401.code === "invalid_api_key",
      "a wrong key: AuthenticationError (401, code invalid_api_key)");
    const e400 = await expectError(client.completions.create({ model, prompt: "x", temperature: -1 }), 400);
    check(e400 instanceof OpenAI.BadRequestError && e400.param === "temperature" &&
      /temperature/.test(e400.message), "temperature -1: BadRequestError (400, param temperature)");
    const e404 = await expectError(client.completions.create({ model: "gpt-4", prompt: "x" }), 404);
    check(e404 instanceof OpenAI.NotFoundError && e404.code === "model_not_found",
      "model gpt-4: NotFoundError (404, code model_not_found)");
  } finally {
    await new Promise((r) => setTimeout(r, 200)); // let the transcript clones finish
    srv.proc.kill("SIGTERM");
    const code = await new Promise((r) => srv.proc.on("exit", (c) => r(c)));
    check(code === 0, "the server stops on SIGTERM with exit 0");
    const lines = [];
    for (const t of transcript) {
      lines.push(`>>> [${t.client}] ${t.request} ${t.body}`);
      lines.push(`<<< ${t.status} ${t.response.trimEnd()}`);
      lines.push("");
    }
    writeFileSync(OUT, lines.join("\n"));
    console.log(`transcript: ${transcript.length} exchanges in ${OUT}`);
  }
  console.log(`${failures.length} failure(s)`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.error("FAIL", e);
  process.exit(1);
});
