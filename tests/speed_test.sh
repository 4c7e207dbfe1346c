#!/usr/bin/env bash
# The bare-epoll baseline (docs/speed.md): scripts/summary's line comparing
# the engine with it on a fixture (exact text) and its silence without one;
# scripts/compare on a file with the baseline row against one without (the
# row reported added/removed, no failure); and, as root with a built twbench
# ($TWBENCH_BINARY), one real run of the engine rows and the baseline with a
# small budget. Run by ctest (script.speed_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FIXTURES=$ROOT/tests/fixtures
source "$ROOT/tests/lib/check.sh"

BASELINE='BM_Baseline/closer:server/conc:64/payload:0/family:ipv4/iterations:1/real_time'
LINE='^engine vs bare epoll baseline \(closer=server conc=64 payload=0 ipv4, same run'

test_summary_line() {
  local summary=$ROOT/scripts/summary
  expect_status "summary: baseline fixture exits 0" 0 \
    "$summary" "$FIXTURES/speed_baseline.csv"
  if diff -u "$FIXTURES/speed_baseline.summary.txt" "$TMP/out" >"$TMP/diff"; then
    pass "summary: baseline fixture, exact text (medians of the iterations)"
  else
    fail "summary: baseline fixture, exact text"
    head -n 40 "$TMP/diff"
  fi
  expect_no_grep "summary: the baseline row is not a table row" \
    '^benchmark|BM_Baseline' "$TMP/out"
  expect_status "summary: markdown exits 0" 0 \
    "$summary" --format=markdown "$FIXTURES/speed_baseline.csv"
  expect_grep "summary: markdown has the line" "$LINE" "$TMP/out"

  # A baseline row of other loops is another run's floor: the line keeps to
  # the one-loop row of its own settings (it pooled them before).
  python3 - "$FIXTURES/speed_baseline.csv" >"$TMP/loops.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0].keys()) + ["loops"],
                     lineterminator="\n")
out.writeheader()
for row in rows:
    out.writerow(dict(row, loops="1"))
for row in rows:
    if row["name"].startswith("BM_Baseline/"):
        other = dict(row, loops="2")
        other["name"] = row["name"].replace(
            "family:ipv4/", "family:ipv4/loops:2/accept:reuseport/")
        if other["conn_per_s"]:
            other["conn_per_s"] = "999999"
        out.writerow(other)
PY
  expect_status "summary: with a two-loop baseline row exits 0" 0 \
    "$summary" "$TMP/loops.csv"
  expect_grep "summary: the line keeps to the one-loop baseline" \
    "$(grep 'bare epoll' "$FIXTURES/speed_baseline.summary.txt" | sed 's/[()]/\\&/g')" \
    "$TMP/out"

  expect_status "summary: no baseline row exits 0" 0 \
    "$summary" "$FIXTURES/churn_small.csv"
  expect_no_grep "summary: no baseline row, no line" 'bare epoll' "$TMP/out"

  # The baseline without its engine rows: said so, with its rate.
  grep -v '^BM_Churn' "$FIXTURES/speed_baseline.csv" >"$TMP/only_baseline.csv"
  expect_status "summary: baseline alone exits 0" 0 \
    "$summary" "$TMP/only_baseline.csv"
  expect_grep "summary: baseline alone says there is no engine row" \
    "$LINE, median of 3 runs\): no engine row with these settings; baseline 31,000 conn/s$" \
    "$TMP/out"
}

test_compare() {
  local compare=$ROOT/scripts/compare
  grep -v '^BM_Baseline' "$FIXTURES/speed_baseline.csv" >"$TMP/no_baseline.csv"
  expect_status "compare: with baseline vs without exits 0" 0 \
    "$compare" "$FIXTURES/speed_baseline.csv" "$TMP/no_baseline.csv"
  expect_grep "compare: the baseline row is reported removed" \
    "^removed \(baseline only\): $BASELINE$" "$TMP/out"
  expect_status "compare: without vs with baseline exits 0" 0 \
    "$compare" "$TMP/no_baseline.csv" "$FIXTURES/speed_baseline.csv"
  expect_grep "compare: the baseline row is reported added" \
    "^added \(candidate only\): $BASELINE$" "$TMP/out"
  expect_status "compare: baseline rows against themselves exit 0" 0 \
    "$compare" "$FIXTURES/speed_baseline.csv" "$FIXTURES/speed_baseline.csv"
  expect_grep "compare: the baseline's conn_per_s is compared" \
    "^BM_Baseline/.* conn_per_s .* ok$" "$TMP/out"
}

# cell CSV NAME_PREFIX COLUMN: the column's value in the row whose name
# starts with NAME_PREFIX (first such row).
cell() {
  python3 - "$@" <<'PY'
import csv, sys
path, prefix, column = sys.argv[1:4]
for row in csv.DictReader(open(path, newline="")):
    if row["name"].startswith(prefix):
        print(row[column])
        break
PY
}

test_real_run() {
  local name="real run" bin=${TWBENCH_BINARY:-$ROOT/build/test/twbench}
  if [[ $(id -u) != 0 ]]; then
    skip "$name" "needs root (a fresh network namespace per run)"; return
  fi
  if [[ ! -x $bin ]]; then
    skip "$name" "no twbench binary at $bin (build first)"; return
  fi
  local csv=$TMP/run.csv prefix
  expect_status "$name: exits 0" 0 "$bin" --isolate=on --connections=3000 \
    --time_limit=20 --csv="$csv" \
    --benchmark_filter='closer:server/conc:64/payload:0/family:ipv4/iterations'
  for prefix in 'BM_Churn/reuseaddr:0/reuseport:0/closer:server/conc:64/payload:0/family:ipv4/iter' \
    'BM_Churn/reuseaddr:1/reuseport:0/closer:server/conc:64/payload:0/family:ipv4/iter' \
    "$BASELINE"; do
    local short=${prefix%%/reuseport*}
    [[ $prefix == BM_Baseline* ]] && short=BM_Baseline
    check "$name: $short has 3000 connections" \
      test "$(cell "$csv" "$prefix" connections)" = 3000
    # reuseaddr=0 counts one error by design: the rebind after the run
    # meets the server's TIME_WAIT (EADDRINUSE). The churn itself has none.
    check "$name: $short has 0 errors but the rebind's" \
      test "$(cell "$csv" "$prefix" errors_total)" = \
      "$(cell "$csv" "$prefix" bind_failures)"
    check "$name: $short ran in its own namespace" \
      test "$(cell "$csv" "$prefix" isolated)" = 1
  done
  check "$name: the baseline row has the settings columns" \
    test "$(cell "$csv" "$BASELINE" closer)/$(cell "$csv" "$BASELINE" concurrency)" = server/64
  expect_status "$name: summary exits 0" 0 "$ROOT/scripts/summary" "$csv"
  expect_grep "$name: summary prints the ratio" \
    "$LINE\): reuseaddr=0 [0-9,]+ vs [0-9,]+ conn/s = [0-9]+\.[0-9]{2}; reuseaddr=1 [0-9,]+ vs [0-9,]+ conn/s = [0-9]+\.[0-9]{2}$" \
    "$TMP/out"
}

test_summary_line
test_compare
test_real_run

check_summary
