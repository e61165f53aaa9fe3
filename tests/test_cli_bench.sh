#!/usr/bin/env bash
# test_cli_bench.sh — `tempscale bench` end to end on the F16 engine fixture
# (tests/data/model_f16 + the real GPT-2 tokenizer from $TS_GPT2_TOKENIZER):
#   --json parses and has the documented fields with positive speeds per thread
#   count; the text table lists each thread count; --weights q8_0 (bundled model)
#   reports the conversion, the fidelity and the per-phase profile;
#   --weights-memory copy reports the background copy, auto why it did not; bad input
#   exits 2 with a one-line message (unknown option, unknown weight type, Q8_0 on
#   n_embd 16, missing fidelity text, prompt + generation beyond the context,
#   --threads 0, missing model).
set -u
CLI=${TS_CLI:?run through ctest}
DATA=${TS_TEST_DATA:?}
TOKDIR=${TS_GPT2_TOKENIZER:?}
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

dir=$(mktemp -d /tmp/ts_test_cli_bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
for f in "$DATA"/model_f16/*; do ln -s "$f" "$dir/"; done
ln -s "$TOKDIR/vocab.json" "$dir/vocab.json"
ln -s "$TOKDIR/merges.txt" "$dir/merges.txt"

out=$("$CLI" bench --model "$dir" --threads 1,2 --prompt-tokens 20 --gen-tokens 8 --runs 3 --json) \
    || fail "bench --json exited $?"
echo "$out" | "$PY" -c '
import json, sys
o = json.load(sys.stdin)
assert o["dtype"] == "F16" and o["n_layer"] == 2 and o["prompt_tokens"] == 20, o
assert o["gen_tokens"] == 8 and o["runs"] == 3 and o["load_ms"] > 0, o
assert [r["threads"] for r in o["results"]] == [1, 2], o
for r in o["results"]:
    assert r["prefill_tok_s"] > 0 and r["decode_tok_s"] > 0, r
    assert len(r["prefill_runs"]) == 3 and len(r["decode_runs"]) == 3, r
    s = sorted(r["decode_runs"]); assert abs(s[1] - r["decode_tok_s"]) < 1e-9 * s[1], r
' || fail "bench --json fields: $out"

txt=$("$CLI" bench --model "$dir" --threads 2 --prompt-tokens 4 --gen-tokens 2 --runs 1) \
    || fail "bench text exited $?"
echo "$txt" | grep -Eq '^ +2 +[0-9.]+ +[0-9.]+$' || fail "text table: $txt"
echo "$txt" | grep -q 'F16' || fail "text names the dtype: $txt"

# --weights q8_0 on the bundled model (n_embd 128): conversion reported, fidelity printed
SRC=${TS_SOURCE_DIR:?}
out=$("$CLI" bench --model "$SRC/models/tiny-shakespeare" --weights q8_0 --threads 1 --prompt-tokens 8 \
      --gen-tokens 4 --runs 1 --fidelity-positions 64 --profile --json) || fail "bench --weights q8_0 exited $?"
echo "$out" | "$PY" -c '
import json, sys
o = json.load(sys.stdin)
assert o["weights"] == "q8_0" and o["matrix_dtype"] == "Q8_0" and o["dtype"] == "F16", o
assert o["copy_bytes"] > 0 and o["convert_ms"] > 0 and o["matrix_bytes_per_token"] > 0, o
f = o["fidelity"]
assert f["positions"] == 64 and 0 < f["max_abs_dlogit"] < 1 and f["top1_agreement"] > 0.9, f
assert [k["temperature"] for k in f["kl"]] == [0.5, 1, 2] and all(0 < k["kl_ref_q"] < 1e-2 for k in f["kl"]), f
p = o["results"][0]["decode_ms_per_token"]
assert set(p) == {"embed", "layernorm", "c_attn", "kv_copy", "attention", "attn.c_proj", "mlp.c_fc", "mlp.c_proj", "lm_head"}, p
assert p["lm_head"] > 0, p
q = o["results"][0]["prefill_ms_per_prompt"]  # the 8-token prompt, per phase
assert set(q) == set(p) and q["mlp.c_fc"] > 0 and q["attention"] > 0, q
' || fail "bench --weights q8_0 --json fields: $out"
txt=$("$CLI" bench --model "$SRC/models/tiny-shakespeare" --weights q8_0 --threads 1 --prompt-tokens 4 \
      --gen-tokens 2 --runs 1 --fidelity-positions 32) || fail "bench q8_0 text exited $?"
echo "$txt" | grep -q 'KL(p_ref || p_q):  T=0.5' || fail "text prints the KL: $txt"
echo "$txt" | grep -q 'top-1 agreement' || fail "text prints top-1 agreement: $txt"
txt=$("$CLI" bench --model "$SRC/models/tiny-shakespeare" --threads 1 --prompt-tokens 6 \
      --gen-tokens 0 --runs 1 --profile) || fail "bench --profile text exited $?"
echo "$txt" | grep -q '^prefill, ms per 6-token prompt' || fail "text prints the prefill profile: $txt"
echo "$txt" | grep -q '^decode step' && fail "no decode table without decode tokens: $txt"

# --weights-memory copy on the bundled model (15 MB: auto leaves it mapped): the copy is complete
# before the timed runs and reported; auto says why it did not copy
out=$("$CLI" bench --model "$SRC/models/tiny-shakespeare" --weights-memory copy --threads 1 \
      --prompt-tokens 4 --gen-tokens 2 --runs 1 --json) || fail "bench --weights-memory copy exited $?"
echo "$out" | "$PY" -c '
import json, sys
o = json.load(sys.stdin)
assert o["memory"] == "copy" and o["resident"] is True and o["resident_ms"] > 0, o
assert o["matrix_bytes_per_token"] <= o["resident_bytes"] < o["matrix_bytes_per_token"] + 4096, o
assert o["rss_after_resident_mb"] > 0, o
# 6 layers x 4 Conv1D matrices repacked into panels on AVX-512, byte for byte otherwise
assert o["resident_panels"] == (24 if o["kernels"] == "avx512" else 0), o
' || fail "bench --weights-memory copy --json fields: $out"
txt=$("$CLI" bench --model "$SRC/models/tiny-shakespeare" --threads 1 --prompt-tokens 4 \
      --gen-tokens 2 --runs 1) || fail "bench auto text exited $?"
echo "$txt" | grep -q 'resident  no: read from the file mapping (--weights-memory auto, under 32 MiB)' \
    || fail "text says the model stayed mapped: $txt"

expect_usage() { # expect_usage PATTERN ARGS...
    local pat=$1; shift
    local err rc
    err=$("$CLI" bench "$@" 2>&1 >/dev/null); rc=$?
    [ "$rc" -eq 2 ] || fail "bench $*: exit $rc, expected 2"
    echo "$err" | grep -q -- "$pat" || fail "bench $*: message '$err' lacks '$pat'"
}
expect_usage "unrecognized option" --bogus
expect_usage "'q4' is not one of stored, f32, f16, bf16, q8_0" --model "$dir" --weights q4
expect_usage "need n_embd a multiple of 32" --model "$dir" --weights q8_0
expect_usage "'mmap' is not one of auto, mapped, copy" --model "$dir" --weights-memory mmap
expect_usage "cannot open" --model "$SRC/models/tiny-shakespeare" --weights f32 --runs 1 --gen-tokens 1 --prompt-tokens 2 --fidelity-text /nonexistent
expect_usage "exceed the model's context of 64 positions" --model "$dir" --prompt-tokens 60 --gen-tokens 10
expect_usage "out of range" --model "$dir" --threads 0
expect_usage "no such directory" --model "$dir/nonexistent"
"$CLI" bench --help | grep -q "Example" || fail "bench --help"

if [ "$fails" -ne 0 ]; then echo "$fails failed"; exit 1; fi
echo "test_cli_bench: all passed"
