#!/usr/bin/env bash
# Google Benchmark's own flags are checked up front like twbench's (issue 12,
# point 2): a value Google Benchmark would take silently (and then run
# nothing, exit 0) or crash on (--benchmark_repetitions=-1: std::length_error)
# exits 2 naming the flag, before anything runs, from the binary and through
# scripts/bench; good values still work.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"

ONE=(--reuseaddr=1 --closer=rst --concurrency=1 --payload=0 --connections=50
  --time_limit=10)

BAD=(
  --benchmark_format=xml
  --benchmark_out_format=foo
  --benchmark_time_unit=fortnight
  --benchmark_repetitions=0
  --benchmark_repetitions=-1
  --benchmark_repetitions=abc
  --benchmark_repetitions=
  --benchmark_min_time=-1
  --benchmark_min_time=nan
  --benchmark_min_time=5s
  --benchmark_min_warmup_time=-1
  --benchmark_list_tests=maybe
  --benchmark_enable_random_interleaving=sometimes
  --benchmark_report_aggregates_only=2
  --benchmark_display_aggregates_only=x
  --benchmark_counters_tabular=perhaps
  --benchmark_color=purple
  --benchmark_perf_counters=CYCLES
  --benchmark_context=novalue
  --benchmark_filter=BM_Churn[
  --benchmark_out=
  --benchmark_format
  --v=-1
  --v=x
)

test_binary() {
  local arg flag
  for arg in "${BAD[@]}"; do
    flag=${arg%%=*}
    expect_status "$arg: exits 2" 2 "$bin" "${ONE[@]}" --csv="$TMP/x.csv" "$arg"
    expect_grep "$arg: names the flag" "^twbench: .*$flag" "$TMP/err"
    expect_no_grep "$arg: nothing ran" '^\[1/' "$TMP/out"
  done
  check "bad flags: no CSV written" test ! -e "$TMP/x.csv"
  local good=(--benchmark_list_tests --benchmark_list_tests=true
    --benchmark_format=json --benchmark_out_format=csv
    --benchmark_time_unit=us --benchmark_repetitions=3
    --benchmark_min_time=0.5 --benchmark_min_warmup_time=0
    --benchmark_enable_random_interleaving=false
    --benchmark_report_aggregates_only=1 --benchmark_counters_tabular=no
    --benchmark_color=auto --benchmark_context=a=b,c=d --benchmark_filter=rst
    --benchmark_filter=-closer:client --v=1)
  for arg in "${good[@]}"; do
    expect_status "$arg: accepted" 0 "$bin" "${ONE[@]}" \
      --benchmark_list_tests=true "$arg"
  done
}

# Through scripts/bench (a copy, a cmake that builds nothing, the binary
# linked where bench runs it): the same exit 2 and message.
test_bench_script() {
  local root=$TMP/root arg
  mkdir -p "$root/build/release" "$TMP/fakebin"
  cp -r "$ROOT/scripts" "$root/scripts"
  printf '#!/bin/sh\nexit 0\n' >"$TMP/fakebin/cmake"
  chmod 755 "$TMP/fakebin/cmake"
  ln -s "$bin" "$root/build/release/twbench"
  for arg in --benchmark_format=xml --benchmark_repetitions=-1 \
    --benchmark_time_unit=fortnight --benchmark_out_format=foo; do
    expect_status "scripts/bench $arg: exits 2" 2 env \
      PATH="$TMP/fakebin:$PATH" TWBENCH_SKIP_PACKAGE_CHECK=1 \
      "$root/scripts/bench" "${ONE[@]}" "$arg"
    expect_grep "scripts/bench $arg: names the flag" "${arg%%=*}" "$TMP/err"
  done
}

test_binary
test_bench_script
check_summary
