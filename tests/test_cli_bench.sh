#!/usr/bin/env bash
# test_cli_bench.sh — `tempscale bench` end to end on the F16 engine fixture
# (tests/data/model_f16 + the real GPT-2 tokenizer from $TS_GPT2_TOKENIZER):
#   --json parses and has the documented fields with positive speeds per thread
#   count; the text table lists each thread count; bad input exits 2 with a
#   one-line message (unknown option, prompt + generation beyond the context,
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

expect_usage() { # expect_usage PATTERN ARGS...
    local pat=$1; shift
    local err rc
    err=$("$CLI" bench "$@" 2>&1 >/dev/null); rc=$?
    [ "$rc" -eq 2 ] || fail "bench $*: exit $rc, expected 2"
    echo "$err" | grep -q -- "$pat" || fail "bench $*: message '$err' lacks '$pat'"
}
expect_usage "unrecognized option" --bogus
expect_usage "exceed the model's context of 64 positions" --model "$dir" --prompt-tokens 60 --gen-tokens 10
expect_usage "out of range" --model "$dir" --threads 0
expect_usage "no such directory" --model "$dir/nonexistent"
"$CLI" bench --help | grep -q "Example" || fail "bench --help"

if [ "$fails" -ne 0 ]; then echo "$fails failed"; exit 1; fi
echo "test_cli_bench: all passed"
