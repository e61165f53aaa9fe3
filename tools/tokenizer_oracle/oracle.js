#!/usr/bin/env node
// oracle.js — expected GPT-2 token ids from gpt-3-encoder 1.1.4 (a JavaScript port of
// OpenAI's encoder.py, shipping the same encoder.json / vocab.bpe as GPT-2's
// vocab.json / merges.txt, byte for byte: see README.md).
//
// Usage: node oracle.js strings.jsonl > ../../tests/data/tokenizer_cases.jsonl
// Input: one JSON string per line. Output: one JSON object per line,
//   {"text": ..., "ids": [...]}  plus "hex" (the UTF-8 bytes) when the text contains
//   NUL, which the C test's cJSON cannot carry inside a string.
'use strict';
const fs = require('fs');
const { encode, decode } = require('gpt-3-encoder');

const lines = fs.readFileSync(process.argv[2], 'utf-8').split('\n').filter((l) => l.length > 0);
let bad = 0;
for (const line of lines) {
  const text = JSON.parse(line);
  const ids = encode(text);
  // gpt-3-encoder's decode() uses TextDecoder, which drops a leading U+FEFF (BOM):
  // a quirk of its decoder, not of encoding, so compare without it.
  const expect = text.startsWith('\ufeff') ? text.slice(1) : text;
  if (decode(ids) !== expect) {
    process.stderr.write('round trip failed: ' + line + '\n');
    bad++;
  }
  if (ids.some((x) => typeof x !== 'number')) {
    process.stderr.write('unknown token: ' + line + '\n');
    bad++;
  }
  const rec = { text, ids };
  if (text.includes('\u0000')) rec.hex = Buffer.from(text, 'utf-8').toString('hex');
  process.stdout.write(JSON.stringify(rec) + '\n');
}
process.stderr.write(lines.length + ' cases\n');
process.exit(bad ? 1 : 0);
