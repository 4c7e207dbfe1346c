#!/usr/bin/env bash
# Tests of scripts/plot: on the fixture CSVs it writes PNG files (checked by
# their signature) and SVG files (well-formed XML with the title and the
# setting labels), takes the bars from the repetitions (mean, min, max),
# finds the time series beside the CSV or skips that chart with a notice,
# and exits 2 on bad input and (not root) on a missing plot package. Needs gnuplot (Debian gnuplot-nox, which
# scripts/test installs). Run by ctest (script.plot_test) or by hand.
#
# tests/fixtures/churn_repetitions.timeseries.csv is in the fixed time-series
# format; it was made for this test from the runs of churn_repetitions.csv
# (their names, repetitions, durations and counts), sampled every 0.25 s.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FIXTURES=$ROOT/tests/fixtures
PLOT=$ROOT/scripts/plot
source "$ROOT/tests/lib/check.sh"

# expect_png NAME FILE: non-empty, starts with the 8-byte PNG signature.
expect_png() {
  local sig
  sig=$(head -c 8 "$2" 2>/dev/null | od -An -tx1 | tr -d ' \n')
  if [[ -s $2 && $sig == 89504e470d0a1a0a ]]; then
    pass "$1"
  else
    fail "$1 (${2##*/}: signature '$sig')"
  fi
}

# expect_svg NAME FILE TEXT...: well-formed XML whose text holds each TEXT.
expect_svg() {
  local name=$1 file=$2
  shift 2
  local problem
  problem=$(python3 - "$file" "$@" <<'EOF'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    print(f"not well-formed XML: {e}")
    sys.exit()
if not root.tag.endswith("svg"):
    print(f"root element is {root.tag}, not svg")
text = " ".join(t for t in root.itertext())
for want in sys.argv[2:]:
    if want not in text:
        print(f"no text '{want}'")
EOF
  )
  if [[ -z $problem ]]; then
    pass "$name"
  else
    fail "$name (${file##*/}: $problem)"
  fi
}

if ! command -v gnuplot >/dev/null; then
  fail "gnuplot is not installed (Debian gnuplot-nox; scripts/test installs it as root)"
  printf '%d passed, %d failed\n' "$passed" "$failed"
  exit 1
fi

test_repetitions_with_time_series() {
  local out=$TMP/rep stem=$TMP/rep/churn_repetitions
  expect_status "repetitions fixture exits 0" 0 \
    "$PLOT" "$FIXTURES/churn_repetitions.csv" --out="$out"
  local chart ext
  for chart in time_wait conn_per_s bind_failures; do
    for ext in png svg; do
      expect_grep "prints the path of $chart.$ext" "^$stem\.$chart\.$ext\$" \
        "$TMP/out"
    done
    expect_png "$chart.png is a PNG" "$stem.$chart.png"
  done
  # Labels name only what differs (reuseaddr, closer); the title names the
  # kernel and what is held constant.
  expect_svg "time_wait.svg: title, kernel, constants, one line per setting" \
    "$stem.time_wait.svg" "TIME_WAIT sockets over time" "Linux 6.18.0" \
    "held constant: SO_REUSEPORT 0, concurrency 1" "ra0 server" "ra0 rst" \
    "ra1 server" "ra1 rst" "TIME_WAIT sockets" "time since the churn started (s)"
  expect_svg "conn_per_s.svg: title, axis with unit, spread note" \
    "$stem.conn_per_s.svg" "Connection rate per setting - Linux 6.18.0" \
    "connections/s (completed" "bar: mean of 3 repetitions, whiskers: min-max" \
    "closer=server" "closer=rst"
  expect_svg "bind_failures.svg: title and axis" "$stem.bind_failures.svg" \
    "bind() failures per setting" "failed bind()/listen() per run (count)"
  # ra0 server: 6047.0, 6120.4, 6193.8 conn/s; ra1 server failed the rebind
  # in 1 of its 3 repetitions.
  expect_grep "conn/s bar: mean, min and max of the repetitions" \
    $'^0\tra0 server\t6120\\.4(0*[0-9])?\t6047\\.0\t6193\\.8\t3\t' "$stem.plot/conn_per_s.tsv"
  expect_grep "bind failures bar: mean 1/3, whisker 0 to 1" \
    $'^1\tra1 server\t0.333[0-9]*\t0.0\t1.0\t3\t' "$stem.plot/bind_failures.tsv"
  local lines
  lines=$(grep -c . "$stem.plot/time_wait_0_0.tsv")
  # 15 + 15 + 14 samples in the fixture, one line style.
  if [[ $lines == 44 ]]; then
    pass "time series: the 3 repetitions' samples in one line style"
  else
    fail "time series: $lines samples for ra0 server, want 44"
  fi
}

test_single_run_without_time_series() {
  local out=$TMP/small stem=$TMP/small/churn_small
  expect_status "small fixture exits 0" 0 \
    "$PLOT" "$FIXTURES/churn_small.csv" --out="$out"
  expect_grep "no time series: says so" "no time series .*skipping" "$TMP/err"
  if [[ ! -e $stem.time_wait.png ]]; then
    pass "no time series: no TIME_WAIT chart"
  else
    fail "no time series: a TIME_WAIT chart was drawn"
  fi
  expect_png "small conn_per_s.png is a PNG" "$stem.conn_per_s.png"
  expect_svg "small conn_per_s.svg: one repetition, labels with payload" \
    "$stem.conn_per_s.svg" "one repetition each: no spread" "ra0 client p0" \
    "ra1 rst p1024" "ra0 client p1024 (error)" "20000 connections per run"
  expect_png "small bind_failures.png is a PNG" "$stem.bind_failures.png"
}

test_bad_input() {
  expect_status "missing results file exits 2" 2 \
    "$PLOT" "$TMP/no-such.csv" --out="$TMP/bad"
  expect_grep "missing results file: says so" "cannot read" "$TMP/err"

  head -n 1 "$FIXTURES/churn_small.csv" >"$TMP/header_only.csv"
  expect_status "header without rows exits 2" 2 \
    "$PLOT" "$TMP/header_only.csv" --out="$TMP/bad"
  expect_grep "header without rows: says so" "no rows" "$TMP/err"

  : >"$TMP/empty.csv"
  expect_status "empty file exits 2" 2 "$PLOT" "$TMP/empty.csv" --out="$TMP/bad"

  { head -n 2 "$FIXTURES/churn_small.csv"; echo "BM_Churn/x,iteration,1"; } \
    >"$TMP/short_row.csv"
  expect_status "short row exits 2" 2 "$PLOT" "$TMP/short_row.csv" --out="$TMP/bad"
  expect_grep "short row: names file and line" "short_row.csv:3: 3 fields" \
    "$TMP/err"

  cut -d, -f1-10 "$FIXTURES/churn_small.csv" >"$TMP/few_columns.csv"
  expect_status "missing columns exit 2" 2 \
    "$PLOT" "$TMP/few_columns.csv" --out="$TMP/bad"
  expect_grep "missing columns are named" \
    "missing column\(s\): conn_per_s, bind_failures" "$TMP/err"

  expect_status "missing --timeseries file exits 2" 2 \
    "$PLOT" "$FIXTURES/churn_small.csv" --out="$TMP/bad" \
    --timeseries="$TMP/no-such.timeseries.csv"

  sed '1s/time_wait/tw/' "$FIXTURES/churn_repetitions.timeseries.csv" \
    >"$TMP/bad.timeseries.csv"
  expect_status "time series without time_wait exits 2" 2 \
    "$PLOT" "$FIXTURES/churn_repetitions.csv" --out="$TMP/bad" \
    --timeseries="$TMP/bad.timeseries.csv"
  expect_grep "time series: the missing column is named" \
    "missing column\(s\): time_wait" "$TMP/err"

  expect_status "no arguments exits 2" 2 "$PLOT"
  expect_status "--help exits 0" 0 "$PLOT" --help
  expect_grep "--help prints usage" "^usage: scripts/plot RESULTS.csv" "$TMP/out"
}

# Not root and a plot package missing: the apt-get line, exit 2. A copy of
# the script and a fixture that user nobody can read wherever the repo is.
test_missing_package_not_root() {
  local name="missing package as nobody"
  if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null ||
    ! command -v dpkg-query >/dev/null; then
    skip "$name" "needs root, setpriv and dpkg-query"
    return
  fi
  local copy=$TMP/nobody
  mkdir -p "$copy/scripts/lib"
  cp "$PLOT" "$copy/scripts/plot"
  cp "$ROOT/scripts/lib/common.sh" "$ROOT"/scripts/lib/*.py "$copy/scripts/lib/"
  cp "$FIXTURES/churn_small.csv" "$copy/"
  chmod -R a+rX "$TMP"
  expect_status "$name: exits 2" 2 \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    env TWBENCH_EXTRA_PACKAGES=twbench-no-such-pkg \
    "$copy/scripts/plot" "$copy/churn_small.csv" --out="$copy/out"
  expect_grep "$name: prints the apt-get line" \
    '^sudo apt-get update && sudo apt-get install -y --no-install-recommends twbench-no-such-pkg$' "$TMP/err"
  if [[ ! -e $copy/out ]]; then
    pass "$name: draws nothing"
  else
    fail "$name: wrote $copy/out"
  fi
}

# Settings come from the CSV's columns (issue 9.3): client_bind, which the
# old table of name keys lacked, labels its row, and a topology column that
# says veth labels the row veth although its name says nothing of it.
test_settings_from_columns() {
  python3 - "$ROOT/results/baseline/20261125T131015Z-vm.csv" "$TMP/cols.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
header = rows[0]
name, topology = header.index("name"), header.index("topology")
for row in rows[1:]:
    if "/closer:rst/conc:64/payload:1024/" in row[name]:
        row[topology] = "veth"
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
EOF
  expect_status "columns fixture exits 0" 0 "$PLOT" "$TMP/cols.csv" --out="$TMP/cols"
  expect_svg "conn_per_s.svg: labels from the setting columns" \
    "$TMP/cols/cols.conn_per_s.svg" "client_bind:range client_port_range:20000-20499" \
    "restart_every:2000" "ra0 rst c64 p1024 veth" "ra1 rst c64 p1024 veth"
}

test_repetitions_with_time_series
test_single_run_without_time_series
test_settings_from_columns
test_bad_input
test_missing_package_not_root

check_summary
