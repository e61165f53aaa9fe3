#!/usr/bin/env bash
# run.sh — run libFuzzer harnesses built by `make fuzz-build` (tests/fuzz.cmake).
#   tests/fuzz/run.sh BUILD_DIR SECONDS [HARNESS...]     (default: every fuzz_* in BUILD_DIR)
# Each harness runs alone for SECONDS on a scratch copy of its corpus
# (tests/fuzz/corpus/<name>/: seeds + regressions, never modified here) with its
# dictionary when there is one, a 10 s per-input timeout and a 2 GiB RSS limit;
# ASan, UBSan and LeakSanitizer are on. New inputs go to BUILD_DIR/fuzz-corpus/<name>/,
# crashes to BUILD_DIR/fuzz-artifacts/<name>/. Prints one line per harness
# (executions, cov, ft, corpus) and exits non-zero when any harness found a crash,
# a leak or a timeout. FUZZ_FLAGS adds libFuzzer flags (e.g. -jobs, -seed).
set -uo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [HARNESS...]}
shift 2
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$bin"/fuzz_*; do
    n=$(basename "$f")
    case $n in fuzz_replay_*) continue ;; esac
    [ -x "$f" ] && names+=("${n#fuzz_}")
  done
fi
if [ ${#names[@]} -eq 0 ]; then
  echo "run.sh: no fuzz_* binaries in $bin (run make fuzz-build first)" >&2
  exit 2
fi
failed=()
printf '%-22s %12s %8s %8s %10s  %s\n' harness executions cov ft corpus result
for name in "${names[@]}"; do
  exe=$bin/fuzz_$name
  work=$build/fuzz-corpus/$name
  art=$build/fuzz-artifacts/$name
  log=$build/fuzz-logs/$name.log
  mkdir -p "$work" "$art" "$(dirname "$log")"
  dict=()
  [ -f "$src/$name.dict" ] && dict=(-dict="$src/$name.dict")
  "$exe" "$work" "$src/corpus/$name" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" ${FUZZ_FLAGS:-} \
    >"$log" 2>&1
  rc=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$')
  cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
  ft=$(echo "$done_line" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+')
  corp=$(echo "$done_line" | grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' | cut -d' ' -f2)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (exit $rc; see $log; reproducer in $art/)"
    failed+=("$name")
  fi
  printf '%-22s %12s %8s %8s %10s  %s\n' "$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$result"
done
if [ ${#failed[@]} -ne 0 ]; then
  echo
  echo "fuzzing found problems in: ${failed[*]}"
  echo "Each reproducer is in $build/fuzz-artifacts/<name>/: fix the bug, then add the file to"
  echo "tests/fuzz/corpus/<name>/ as regress-<what>, so every build replays it (ctest -L fuzz)."
  for name in "${failed[@]}"; do
    echo "--- $name (last lines of the log)"
    grep -E 'ERROR|SUMMARY|invariant|Test unit written|==[0-9]+==' "$build/fuzz-logs/$name.log" | head -12
  done
  exit 1
fi
