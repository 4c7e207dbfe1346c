#!/usr/bin/env bash
# Tests of the scaling run (issue 10.7): scripts/bench --scaling's bad input
# (exit 2, nothing built), the twbench runs it makes (a fake twbench: per
# loop count and closer group, per-loop values, client addresses, the CSVs
# merged, a failure stopping the series), scripts/summary --scaling on a
# fixture (exact text; the baseline ratio with and without a BM_Baseline
# row; malformed input exits 2 naming FILE:LINE), and one short real run
# of the twbench
# binary (TWBENCH_BINARY) through scripts/bench --scaling --loops=1,2 --plot
# in a copy of the scripts: a row for every loops x closer x accept, the
# per-loop concurrency, budget and client addresses, speedup 1.00 at one
# loop, efficiency = speedup / loops, and the loops chart as PNG and SVG.
#
# tests/fixtures/scaling_small.csv is the CSV of such a run (2 cores, 2000
# connections per loop, commit a348192, a busy machine: the rates are low);
# scaling_small.summary.txt is its table. Run by ctest
# (script.scaling_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FIXTURES=$ROOT/tests/fixtures
SUMMARY=$ROOT/scripts/summary
source "$ROOT/tests/lib/check.sh"

# The copy of the scripts, the recording cmake, BENCH and expect_bad.
source "$ROOT/tests/lib/fake_bench.sh"

test_bad_flags() {
  expect_bad "--scaling --loops=0" \
    "^bench: --loops=0: '0' is not a loop count from 1 to 256" \
    --scaling --loops=0
  expect_bad "--scaling --loops=" "--loops=: want a comma list of loop counts" \
    --scaling --loops=
  expect_bad "--scaling --loops=1,,2" "want a comma list of loop counts" \
    --scaling --loops=1,,2
  expect_bad "--scaling --loops=1,2,1" "--loops=1,2,1: '1' twice" \
    --scaling --loops=1,2,1
  expect_bad "--scaling --loops=257" "'257' is not a loop count" \
    --scaling --loops=257
  expect_bad "--scaling --loops 2" "--loops needs its value after '='" \
    --scaling --loops 2
  expect_bad "--scaling --closer=fin" "'fin' is not one of: server rst client" \
    --scaling --closer=fin
  expect_bad "--scaling --accept=" "--accept=: want a comma list" \
    --scaling --accept=
  expect_bad "--scaling --concurrency=0" \
    "--concurrency=0: want a whole number from 1 to" --scaling --concurrency=0
  expect_bad "--scaling --concurrency too large for the loops" \
    "--concurrency=5000: want a whole number from 1 to 2500 \(per loop" \
    --scaling --loops=1,4 --concurrency=5000
  expect_bad "--scaling --client_addrs=255" \
    "--client_addrs=255: want a whole number from 1 to 254" \
    --scaling --client_addrs=255
  expect_bad "--scaling --payload=x" "--payload=x: want a comma list" \
    --scaling --payload=x
  # Where it is no scaling run, --loops goes to twbench, which checks it.
  expect_status "--help exits 0" 0 "${BENCH[@]}" --help
  expect_grep "--help documents --scaling" "^  --scaling +a scaling run" \
    "$TMP/out"
  expect_grep "--help names the scaling CSV" "<UTC>-<host>\.scaling\.csv" \
    "$TMP/out"
}

# The twbench runs bench --scaling makes, with a fake twbench that records
# its arguments and writes the fixture as its CSV: one run per loop count
# and closer group, the per-loop values, the client addresses, other
# arguments passed to each, the CSVs appended under one header, and a
# failed run stopping the series with its status.
test_run_arguments() {
  local root=$TMP/root_fake fixture=$FIXTURES/scaling_small.csv
  mkdir -p "$root/build/release"
  cp -r "$ROOT/scripts" "$root/scripts"
  cat >"$root/build/release/twbench" <<FAKE
#!/bin/bash
n=\$((\$(cat "$TMP/runs.log" 2>/dev/null | wc -l) + 1))
echo "\$*" >>"$TMP/runs.log"
for arg; do
  case \$arg in
    --csv=*) cp "$fixture" "\${arg#--csv=}" ;;
    --timeseries=*) cp "$FIXTURES/churn_repetitions.timeseries.csv" "\${arg#--timeseries=}" ;;
  esac
done
[[ \$n != "\${FAIL_AT:-}" ]] || exit 1
FAKE
  chmod 755 "$root/build/release/twbench"
  local -a bench=(env PATH="$TMP/fakebin:$PATH" TWBENCH_SKIP_PACKAGE_CHECK=1
    "$root/scripts/bench" --scaling)
  local runs=$TMP/runs.log
  rm -f "$runs"
  expect_status "fake: --loops=1,4 exits 0" 0 "${bench[@]}" --loops=1,4 \
    --time_limit=5 -- --benchmark_filter=conc
  local first='--loops=1 --closer=server,rst --client_addrs=1 --accept=reuseport,shared --reuseaddr=1 --payload=0 --concurrency=64 --connections=20000'
  local last='--loops=4 --closer=client --client_addrs=16 --accept=reuseport,shared --reuseaddr=1 --payload=0 --concurrency=256 --connections=80000'
  if [[ $(wc -l <"$runs") == 4 ]]; then
    pass "fake: two twbench runs per loop count"
  else
    fail "fake: $(wc -l <"$runs") twbench runs for --loops=1,4, want 4"
  fi
  expect_grep "fake: loops 1, server and rst, 1 address, 64 and 20000" \
    "^--csv=[^ ]+ --timeseries=[^ ]+ $first --time_limit=5 --benchmark_filter=conc\$" \
    "$runs"
  expect_grep "fake: loops 4, client close, 16 addresses (4 x 4), 256 and 80000" \
    " $last --time_limit=5 --benchmark_filter=conc\$" "$runs"
  local csv rows
  csv=$(sed -n 's/^CSV: //p' "$TMP/out")
  rows=$(($(wc -l <"$fixture") - 1))
  if [[ -s $csv && $(grep -c '^name,' "$csv") == 1 &&
    $(wc -l <"$csv") == $((4 * rows + 1)) ]]; then
    pass "fake: the four CSVs appended under one header"
  else
    fail "fake: merged CSV '$csv' is not 4 x $rows rows under one header"
  fi
  expect_grep "fake: the scaling table follows" "^twbench scaling: " "$TMP/out"

  rm -f "$runs"
  expect_status "fake: --closer=server --client_addrs=3 exits 0" 0 \
    "${bench[@]}" --loops=2 --closer=server --client_addrs=3
  expect_grep "fake: one run, no client group" \
    "^--csv=[^ ]+ --timeseries=[^ ]+ --loops=2 --closer=server --client_addrs=1 " \
    "$runs"
  if [[ $(wc -l <"$runs") == 1 ]]; then pass "fake: only that run"; else
    fail "fake: $(wc -l <"$runs") runs for one closer group"; fi

  # The default loop counts: 1, 2, 4 ... up to nproc, two runs each.
  local cores want=0 n=1
  cores=$(nproc)
  while ((n >= 1 && n <= cores)); do want=$((want + 2)); n=$((n * 2)); done
  rm -f "$runs"
  expect_status "fake: default loops exits 0" 0 "${bench[@]}"
  if [[ $(wc -l <"$runs") == "$want" ]]; then
    pass "fake: default loops double up to nproc ($cores): $want runs"
  else
    fail "fake: $(wc -l <"$runs") runs by default, want $want"
  fi

  rm -f "$runs"
  expect_status "fake: the second run fails: exits 1" 1 \
    env FAIL_AT=2 "${bench[@]}" --loops=1,2
  if [[ $(wc -l <"$runs") == 2 ]]; then
    pass "fake: a failed run stops the series"
  else
    fail "fake: $(wc -l <"$runs") runs after a failure at the second"
  fi
  csv=$(sed -n 's/^CSV: //p' "$TMP/out")
  if [[ -s $csv && $(wc -l <"$csv") == $((2 * rows + 1)) ]]; then
    pass "fake: the rows measured before and by the failed run are kept"
  else
    fail "fake: after a failure the CSV is '$csv'"
  fi
}

test_summary_fixture() {
  local fixture=$FIXTURES/scaling_small.csv
  expect_status "summary --scaling: fixture exits 0" 0 "$SUMMARY" --scaling \
    "$fixture"
  if diff -u "$FIXTURES/scaling_small.summary.txt" "$TMP/out" >"$TMP/diff"; then
    pass "summary --scaling: fixture, exact text"
  else
    fail "summary --scaling: fixture, exact text"
    head -n 40 "$TMP/diff"
  fi
  cp "$TMP/out" "$TMP/fixture_table.txt"
  expect_status "summary --scaling --format=markdown exits 0" 0 "$SUMMARY" \
    --scaling --format=markdown "$fixture"
  expect_grep "markdown: a table row" \
    '^\| client_addrs=1 \| server \| reuseport \| 1 \| [0-9]+ \| 1\.00 \| 1\.00 \|' \
    "$TMP/out"
  # The server row at one loop has its BM_Baseline row (the same settings
  # but reuse): the ratio is its conn/s over the baseline's.
  row_checks "$fixture" "$TMP/fixture_table.txt" <<'PY'
fixture, table = sys.argv[1:]
_, rows = read_csv(fixture)
engine = [r for r in rows if r["name"].startswith("BM_Churn/") and
          r["closer"] == "server" and r["loops"] == "1"]
base = [r for r in rows if r["name"].startswith("BM_Baseline/")]
want = f"{num(engine[0], 'conn_per_s') / num(base[0], 'conn_per_s'):.2f}"
lines = [l.split() for l in open(table) if l.startswith("client_addrs=1  server")]
check("server, one loop: vs baseline is engine / baseline conn/s",
      lines and all(l[7] == want for l in lines if l[3] == "1"),
      f"want {want}, lines {lines}")
check("server, two loops: no baseline row, '-'",
      all(l[7] == "-" for l in lines if l[3] == "2"), lines)
PY
  # Without the baseline row: '-' everywhere, and nothing else changes.
  grep -v '^BM_Baseline/' "$fixture" >"$TMP/no_baseline.csv"
  expect_status "summary --scaling without a baseline row exits 0" 0 \
    "$SUMMARY" --scaling "$TMP/no_baseline.csv"
  local ratios
  ratios=$(awk '/^client_addrs=/ {print $8}' "$TMP/out" | sort -u)
  if [[ $ratios == "-" ]]; then
    pass "without a baseline row: vs baseline is '-' in every row"
  else
    fail "without a baseline row: vs baseline column holds '$ratios'"
  fi
}

test_summary_malformed() {
  local fixture=$FIXTURES/scaling_small.csv
  expect_status "summary --scaling: missing file exits 2" 2 "$SUMMARY" \
    --scaling "$TMP/no-such.csv"
  expect_grep "missing file: says so" "cannot read" "$TMP/err"
  # A results CSV from before the loops column.
  expect_status "summary --scaling: a file without loops exits 2" 2 \
    "$SUMMARY" --scaling "$FIXTURES/churn_small.csv"
  expect_grep "a file without loops: names the columns" \
    "missing column\(s\): loops, accept" "$TMP/err"
  python3 - "$fixture" "$TMP/bad_loops.csv" "$TMP/short.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
col = rows[0].index("loops")
bad = [list(r) for r in rows]
bad[3][col] = "two"
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(bad)
with open(sys.argv[3], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows[:3])
    f.write(",".join(rows[3][:10]) + "\n")  # a row cut short
EOF
  expect_status "summary --scaling: loops 'two' exits 2" 2 "$SUMMARY" \
    --scaling "$TMP/bad_loops.csv"
  expect_grep "loops 'two': names FILE:LINE and the column" \
    "bad_loops\.csv:4: column loops: not a number: 'two'" "$TMP/err"
  expect_status "summary --scaling: a row cut short exits 2" 2 "$SUMMARY" \
    --scaling "$TMP/short.csv"
  expect_grep "a row cut short: names FILE:LINE" "short\.csv:4: 10 fields" \
    "$TMP/err"
  expect_no_grep "no traceback" "Traceback" "$TMP/err"
}

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

test_real_run() {
  local binary=${TWBENCH_BINARY:-}
  if [[ -z $binary || ! -x $binary ]]; then
    skip "real run" "TWBENCH_BINARY is not set to the twbench binary"
    return
  fi
  if ! command -v gnuplot >/dev/null; then
    skip "real run" "gnuplot is not installed (gnuplot-nox)"
    return
  fi
  ln -s "$binary" "$BENCH_ROOT/build/release/twbench"
  CHECK_TIMEOUT=240 expect_status "bench --scaling --loops=1,2 --plot exits 0" 0 \
    "${BENCH[@]}" --scaling --loops=1,2 --connections=2000 --plot \
    --time_limit=30
  local csv
  csv=$(sed -n 's/^CSV: //p' "$TMP/out")
  if [[ $csv == "$BENCH_ROOT"/results/*Z-*.scaling.csv && -s $csv ]]; then
    pass "prints the path of results/<UTC>-<host>.scaling.csv"
  else
    fail "no scaling CSV printed ('$csv')"
    return
  fi
  if [[ -s ${csv%.csv}.timeseries.csv && ! -e ${csv%.csv}.json ]]; then
    pass "the time series beside it, no JSON"
  else
    fail "time series or JSON not as documented"
  fi
  sed -n '/^twbench scaling: /,/^$/p;/^settings /,/^$/p' "$TMP/out" \
    >"$TMP/table.txt"
  row_checks "$csv" "$TMP/table.txt" <<'PY'
path, table = sys.argv[1:]
header, rows = read_csv(path)
engine = [r for r in rows if r["name"].startswith("BM_Churn/")]
check("one header: the runs' CSVs were merged",
      all(r["name"] != "name" for r in rows))
check("no row has an error", all(not r["error"] for r in rows),
      [r["error"] for r in rows if r["error"]])
names = [r["name"] for r in rows]
check("names are distinct", len(names) == len(set(names)), names)
cells = {(r["loops"], r["closer"], r["accept"]) for r in engine}
want = {("2", c, a) for c in ("server", "rst", "client")
        for a in ("reuseport", "shared")}
# With one loop accept does not act: twbench runs that row once.
want |= {("1", c, "reuseport") for c in ("server", "rst", "client")}
check("a row for every loops x closer x accept (one row per closer at one "
      "loop)", cells == want and len(engine) == len(want),
      sorted(cells ^ want))
for r in engine:
    loops = int(r["loops"])
    what = f"{r['closer']} loops {loops} {r['accept']}"
    check(f"{what}: concurrency 64 per loop, budget 2000 per loop, "
          "reuseaddr 1, payload 0",
          (int(r["concurrency"]), int(r["budget_connections"]),
           r["reuseaddr"], r["payload"]) == (64 * loops, 2000 * loops, "1",
                                             "0"), r["name"])
    addrs = "8" if r["closer"] == "client" else "1"
    check(f"{what}: client_addrs {addrs}", r["client_addrs"] == addrs)

# The settings column comes first (client_addrs differs between closers).
lines = [l.split()[1:] for l in open(table)
         if l.startswith("client_addrs=")]
check("the table: a line per closer x accept x loops (12)", len(lines) == 12,
      len(lines))
for l in lines:
    closer, accept, loops, rate, speedup, eff = l[:6]
    loops = int(loops)
    if loops == 1:
        check(f"table {closer} {accept}: speedup 1.00 at one loop",
              speedup == "1.00" and eff == "1.00", l)
    else:
        check(f"table {closer} {accept} loops {loops}: efficiency = "
              "speedup / loops",
              abs(float(eff) - float(speedup) / loops) <= 0.0051, l)
PY
  local stem=${csv%.csv} ext
  for ext in png svg; do
    expect_grep "--plot prints loops.$ext" "^$stem\.loops\.$ext\$" "$TMP/out"
  done
  expect_png "loops.png is a PNG" "$stem.loops.png"
  if python3 -c 'import sys, xml.etree.ElementTree as ET
t = " ".join(ET.parse(sys.argv[1]).getroot().itertext())
sys.exit(0 if "Scaling with loops" in t and "efficiency" in t and
         "client shared" in t else 1)' "$stem.loops.svg"; then
    pass "loops.svg: title, efficiency panel, a line per closer x accept"
  else
    fail "loops.svg lacks its title or lines"
  fi
}

test_bad_flags
test_run_arguments
test_summary_fixture
test_summary_malformed
test_real_run

check_summary
