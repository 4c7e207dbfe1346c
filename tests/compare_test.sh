#!/usr/bin/env bash
# Tests of scripts/compare: exit status and verdicts on fixture result files
# (tests/fixtures/compare/, 4 benchmarks x 5 repetitions plus aggregates, in
# twbench CSV and Google Benchmark JSON), bad input naming file and line, and
# the Mann-Whitney U test against p-values computed by hand. With a built
# twbench ($TWBENCH_BINARY) also the CSV and JSON of one real run compared.
# Run by ctest (script.compare_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
COMPARE=$ROOT/scripts/compare
FX=$ROOT/tests/fixtures/compare
source "$ROOT/tests/lib/check.sh"

# run WANT_STATUS NAME ARGS...: scripts/compare ARGS (stdout in $TMP/out,
# stderr in $TMP/err), checks the exit status.
run() {
  local want=$1 name=$2 got=0
  shift 2
  timeout 60 "$COMPARE" "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  if [[ $got == "$want" ]]; then
    pass "$name: exit $want"
  else
    fail "$name: exit $got, want $want"
    sed 's/^/  stdout: /' "$TMP/out" | tail -n 5
    sed 's/^/  stderr: /' "$TMP/err" | head -n 10
  fi
}

SERVER0='BM_Churn/reuseaddr:0/reuseport:0/closer:server/conc:64/payload:0/family:ipv4/iterations:1/real_time'
SERVER0_RE=${SERVER0//\//\\/}

test_verdicts() {
  run 0 "identical runs" "$FX/baseline.csv" "$FX/baseline.csv"
  expect_grep "identical runs: PASS summary last" '^PASS: 4 benchmarks compared, 0 regressions' <(tail -n 1 "$TMP/out")
  expect_no_grep "identical runs: every verdict ok" ' (REGRESSION|BEHAVIOUR CHANGE|improved|noise)$' "$TMP/out"
  # (but the one that 5 repetitions a side are too few to flag one benchmark)
  if grep -v 'smallest p is' "$TMP/err" | grep -q .; then fail "identical runs: no other warning"; else pass "identical runs: no other warning"; fi

  # Same build, another run: +1.5% (under the 5% threshold), newer kernel,
  # one benchmark more.
  run 0 "noise within threshold" "$FX/baseline.csv" "$FX/noise.csv"
  expect_grep "noise: kernel difference warned" "context 'kernel' differs: baseline 6.18.0; candidate 6.18.1" "$TMP/err"
  expect_grep "noise: added row listed" '^added \(candidate only\): .*payload:1024' "$TMP/out"
  expect_grep "noise: summary counts the added row" '1 added, 0 removed' "$TMP/out"

  # conn_per_s 20% lower on every repetition of one benchmark: U=0, exact
  # p = 2/C(10,5) = 2/252. Compared alone, conn_per_s is a family of 4
  # tests: Benjamini-Hochberg's q = p * 4 / 1 = 0.0317 < 0.05.
  run 1 "20% fewer conn/s" "$FX/baseline.csv" "$FX/regressed.csv" --metrics=conn_per_s
  expect_grep "regression: row marked" "^$SERVER0_RE +conn_per_s +5/5 +14200 +11360 +-20\.0% +0 +0\.00794 +0\.0317 +REGRESSION\$" "$TMP/out"
  expect_grep "regression: one only" '^FAIL: 4 benchmarks compared, 1 regression, 0 behaviour changes' "$TMP/out"
  # With every default metric the family has 16 tests that can reach 0.05:
  # 0.00794 * 16 > 0.05, one benchmark alone cannot be flagged with 5
  # repetitions a side, and compare says so.
  run 0 "5 repetitions, all metrics: not flagged" "$FX/baseline.csv" "$FX/regressed.csv"
  expect_grep "5 repetitions: noise" "^$SERVER0_RE +conn_per_s .* noise\$" "$TMP/out"
  expect_grep "5 repetitions: warned" 'smallest p is 0.0079, above 0.05/16 tests: a change in one benchmark alone cannot be flagged' "$TMP/err"
  run 1 "removed row listed" "$FX/noise.csv" "$FX/regressed.csv" --metrics=conn_per_s
  expect_grep "removed row: listed" '^removed \(baseline only\): .*payload:1024' "$TMP/out"
  run 0 "per-metric threshold 25%" "$FX/baseline.csv" "$FX/regressed.csv" --threshold-metric=conn_per_s=0.25
  run 0 "--alpha below the smallest p turns it to noise" "$FX/baseline.csv" "$FX/regressed.csv" --alpha=0.005
  expect_grep "alpha: row is noise" "^$SERVER0_RE +conn_per_s .* noise\$" "$TMP/out"
  run 0 "reversed: improved, not a failure" "$FX/regressed.csv" "$FX/baseline.csv" --metrics=conn_per_s
  expect_grep "reversed: row improved" "^$SERVER0_RE +conn_per_s .* \+25\.0% .* improved\$" "$TMP/out"
  run 0 "--metrics excludes conn_per_s" "$FX/baseline.csv" "$FX/regressed.csv" --metrics=time_wait,lat_p99_us
  expect_no_grep "--metrics: conn_per_s not listed" 'conn_per_s' "$TMP/out"

  # TIME_WAIT halved: neither better nor worse, a change of behaviour.
  run 1 "time_wait changed" "$FX/baseline.csv" "$FX/behaviour.csv" --metrics=time_wait,time_wait_per_conn
  expect_grep "behaviour: time_wait row" "^$SERVER0_RE +time_wait +5/5 +2000 +1000 +-50\.0% .* BEHAVIOUR CHANGE\$" "$TMP/out"
  expect_grep "behaviour: time_wait_per_conn row" "^$SERVER0_RE +time_wait_per_conn .* BEHAVIOUR CHANGE\$" "$TMP/out"
  expect_no_grep "behaviour: never called better" 'improved$|REGRESSION$' "$TMP/out"
  # The same median shift (+7.5%) inside the candidate's own spread over 5
  # repetitions: the U test cannot tell it from run-to-run variation.
  run 0 "time_wait shifted within its spread" "$FX/baseline.csv" "$FX/behaviour_noise.csv" --metrics=time_wait,time_wait_per_conn
  expect_grep "behaviour within spread: noise" "^$SERVER0_RE +time_wait +5/5 +2000 +2150 +\+7\.5% .* noise\$" "$TMP/out"
  run 0 "--behaviour=warn" "$FX/baseline.csv" "$FX/behaviour.csv" --behaviour=warn --metrics=time_wait,time_wait_per_conn
  expect_grep "--behaviour=warn: warned" 'behaviour change' "$TMP/err"

  run 1 "candidate errored" "$FX/baseline.csv" "$FX/errored.csv"
  expect_grep "errored: row marked" 'closer:rst/.* ERRORED \(candidate: listen: EADDRINUSE\)$' "$TMP/out"
}

test_json() {
  run 0 "JSON vs CSV of the same numbers" "$FX/baseline.json" "$FX/baseline.csv"
  expect_grep "JSON: 5 samples a side" "^$SERVER0_RE +conn_per_s +5/5 +14200 +14200 " "$TMP/out"
  run 1 "JSON baseline, CSV regressed" "$FX/baseline.json" "$FX/regressed.csv" --metrics=conn_per_s
  expect_grep "JSON: regression marked" "^$SERVER0_RE +conn_per_s .* REGRESSION\$" "$TMP/out"
  # Aggregates only (--benchmark_report_aggregates_only): the mean is one sample.
  run 1 "JSON aggregates only" "$FX/baseline.json" "$FX/regressed_aggregates.json"
  expect_grep "aggregates only: mean as 1 sample, no test" "^$SERVER0_RE +conn_per_s +5/1 .* no test: 1 sample +- +REGRESSION\$" "$TMP/out"
  cp "$FX/baseline.json" "$TMP/result-without-extension"
  run 0 "JSON detected by content" "$TMP/result-without-extension" "$FX/baseline.csv"
}

test_formats() {
  run 1 "--format=csv" "$FX/baseline.csv" "$FX/regressed.csv" --format=csv --metrics=conn_per_s
  expect_grep "csv: header" '^name,metric,n_baseline,n_candidate,baseline,candidate,change,u,p,q,verdict,note$' "$TMP/out"
  expect_grep "csv: regression row" "^$SERVER0_RE,conn_per_s,5,5,14200\.0,11360\.0,-0\.2[0-9]*,0\.0,0\.0079[0-9]*,0\.031[0-9]*,REGRESSION," "$TMP/out"
  expect_grep "csv: summary on stderr" '^FAIL: ' "$TMP/err"
  run 1 "--format=markdown" "$FX/baseline.csv" "$FX/regressed.csv" --format=markdown --metrics=conn_per_s
  expect_grep "markdown: header" '^\| name \| metric \| n \| baseline \| candidate \| change \| U \| p \| q \| verdict \|$' "$TMP/out"
  expect_grep "markdown: regression row" "^\| $SERVER0_RE \| conn_per_s \| .* \| REGRESSION \|\$" "$TMP/out"
}

test_bad_input() {
  run 2 "non-numeric metric" "$FX/baseline.csv" "$FX/malformed.csv"
  expect_grep "non-numeric: names file and line" 'malformed\.csv:4: column .conn_per_s.: .fast. is not a number' "$TMP/err"
  run 2 "wrong field count" "$FX/short_row.csv" "$FX/baseline.csv"
  expect_grep "field count: names file and line" 'short_row\.csv:3: 50 fields, the header has 52' "$TMP/err"
  run 2 "non-numeric JSON counter" "$FX/baseline.csv" "$FX/malformed.json"
  expect_grep "JSON: names file and line" 'malformed\.json:126: .conn_per_s.' "$TMP/err"
  printf '{"benchmarks": [\n  {"name": "x",\n' >"$TMP/truncated.json"
  run 2 "truncated JSON" "$FX/baseline.csv" "$TMP/truncated.json"
  expect_grep "truncated JSON: names file" 'truncated\.json:[0-9]+: not valid JSON' "$TMP/err"
  run 2 "missing file" "$FX/baseline.csv" "$TMP/no-such-file.csv"
  expect_grep "missing file: named" 'no-such-file\.csv: cannot read' "$TMP/err"
  : >"$TMP/empty.csv"
  run 2 "empty file" "$TMP/empty.csv" "$FX/baseline.csv"
  run 2 "no common rows" "$FX/baseline.csv" "$FX/other.csv"
  expect_grep "no common rows: said" 'no benchmark name in common' "$TMP/err"
  run 2 "unknown metric" "$FX/baseline.csv" "$FX/baseline.csv" --metrics=conn_per_s,speed
  run 2 "bad threshold" "$FX/baseline.csv" "$FX/baseline.csv" --threshold-metric=conn_per_s=much
}

# Input no regression job should ever read as "regression" (exit 1) or wait
# on: each case exits 2 naming the file, never a traceback.
test_hostile_input() {
  local bad
  # A compared metric missing on one side used to compare as PASS.
  cut -d, -f1-40,42- "$FX/baseline.csv" >"$TMP/no_p90.csv"
  run 2 "metric column missing in candidate" "$FX/baseline.csv" "$TMP/no_p90.csv"
  expect_grep "missing metric: file and column named" 'no_p90\.csv: no column .lat_p90_us.' "$TMP/err"
  run 2 "metric column missing in baseline" "$TMP/no_p90.csv" "$FX/baseline.csv"
  run 0 "metric column missing but not compared" "$TMP/no_p90.csv" "$FX/baseline.csv" --metrics=conn_per_s,time_wait
  # Nested JSON: the parser's recursion used to end in a traceback, exit 1.
  python3 -c 'print("[" * 100000)' >"$TMP/nested.json"
  run 2 "JSON nested 100,000 deep" "$FX/baseline.csv" "$TMP/nested.json"
  expect_grep "nested JSON: named" 'nested\.json: .*nest' "$TMP/err"
  expect_no_grep "nested JSON: no traceback" 'Traceback' "$TMP/err"
  # An integer of 5000 digits: Python's int limit is a ValueError, not a
  # JSONDecodeError.
  python3 -c 'print("{\"benchmarks\": [{\"name\": \"x\", \"conn_per_s\": " + "9" * 5000 + "}]}")' >"$TMP/bigint.json"
  run 2 "JSON integer of 5000 digits" "$FX/baseline.csv" "$TMP/bigint.json"
  expect_no_grep "big integer: no traceback" 'Traceback' "$TMP/err"
  # Unbounded input: /dev/zero is binary at its first byte; an endless text
  # stream stops at the 256 MiB cap instead of filling memory.
  run 2 "/dev/zero as input" "$FX/baseline.csv" /dev/zero
  expect_grep "/dev/zero: binary data" 'zero:1: binary data' "$TMP/err"
  yes 'name,conn_per_s' | head -c $((256 * 1024 * 1024 + 1)) >"$TMP/huge.csv"
  run 2 "input over 256 MiB" "$FX/baseline.csv" "$TMP/huge.csv"
  expect_grep "over the cap: said" 'huge\.csv: larger than 256 MiB' "$TMP/err"
  rm -f "$TMP/huge.csv"
  # Out-of-range options.
  for bad in --alpha=2 --alpha=0 --alpha=1 --alpha=nan --threshold=-0.1 \
      --threshold=inf --threshold-metric=conn_per_s=-1; do
    run 2 "option $bad" "$FX/baseline.csv" "$FX/baseline.csv" "$bad"
  done
  # The reader of stdout gone before the first line (a closed pipe): not a
  # regression (exit 1), no traceback.
  local got
  got=$(python3 - "$COMPARE" "$FX/baseline.csv" "$FX/regressed.csv" 2>&1 <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
p = subprocess.run(sys.argv[1:], stdout=w, stderr=subprocess.PIPE, timeout=60)
print(p.returncode, "traceback" if b"Traceback" in p.stderr else "clean")
EOF
)
  if [[ $got == "141 clean" ]]; then
    pass "stdout closed: exit 141, no traceback"
  else
    fail "stdout closed: '$got', want '141 clean'"
  fi
}

# Ctrl-C while compare waits on its input (a FIFO nobody writes): exit 130
# with one line, no traceback. SIGINT restored to its default for the child:
# a background job of a script inherits it ignored.
test_interrupt() {
  mkfifo "$TMP/fifo.csv"
  local got
  got=$(python3 - "$COMPARE" "$FX/baseline.csv" "$TMP/fifo.csv" 2>&1 <<'EOF'
import signal, subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE,
                     preexec_fn=lambda: signal.signal(signal.SIGINT,
                                                      signal.SIG_DFL))
time.sleep(2)  # imports done, blocked opening the FIFO
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=30)
print(p.returncode, "traceback" if b"Traceback" in err else
      err.decode().strip())
EOF
)
  if [[ $got == "130 compare: interrupted" ]]; then
    pass "Ctrl-C: exit 130, 'interrupted', no traceback"
  else
    fail "Ctrl-C: '$got', want '130 compare: interrupted'"
  fi
}

# The U test on cases worked by hand (module imported from the script's path).
test_u_test() {
  local out
  # Debian's interpreter: python3-scipy is installed for it.
  out=$(/usr/bin/python3 - "$COMPARE" 2>&1 <<'EOF'
import importlib.machinery, importlib.util, math, sys
loader = importlib.machinery.SourceFileLoader("compare", sys.argv[1])
spec = importlib.util.spec_from_loader("compare", loader)
m = importlib.util.module_from_spec(spec)
loader.exec_module(m)
fails = []
def check(label, got, want, tol=1e-9):
    if not math.isclose(got, want, rel_tol=0, abs_tol=tol):
        fails.append(f"{label}: got {got!r}, want {want!r}")

# [1,2,3] vs [4,5,6]: no y below any x, U=0; only the 2 extreme of the
# C(6,3)=20 arrangements are as extreme: p = 2/20.
u, p, how = m.mann_whitney_u([1, 2, 3], [4, 5, 6])
check("3v3 U", u, 0); check("3v3 p", p, 0.1)
if how != "exact": fails.append("3v3 not exact")
# [1..5] vs [6..10]: p = 2/C(10,5) = 2/252.
u, p, how = m.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])
check("5v5 U", u, 0); check("5v5 p", p, 2 / 252)
# Interleaved [1,4,5] vs [2,3,6]: U1 = 4 (x=4,5 beat y=2,3), U = min(4,5) = 4;
# P(U <= 4) for 3v3 = (1+1+2+3+3)/20 = 10/20, two-sided p = 1.
u, p, how = m.mann_whitney_u([1, 4, 5], [2, 3, 6])
check("interleaved U", u, 4); check("interleaved p", p, 1.0)
# 3v3 with U=1: P(U<=1) = 2/20, p = 0.2.
u, p, how = m.mann_whitney_u([1, 2, 4], [3, 5, 6])
check("3v3 U=1", u, 1); check("3v3 U=1 p", p, 0.2)
# Tie: [1,2,2,3] vs [2,4,5,6]. Ranks 1, 3,3,3 (three 2s share ranks 2..4),
# 5,6,7,8: R1 = 1+3+3+5 = 12, U1 = 12 - 4*5/2 = 2, U = min(2, 14) = 2.
# Normal: mean 8; tie group t=3: sum(t^3-t)=24; variance
# = 16/12 * (9 - 24/(8*7)) = 80/7; z = (|2-8| - 0.5)/sqrt(80/7) = 1.626929;
# p = 2*(1 - Phi(1.626929)) = 0.103754.
u, p, how = m.mann_whitney_u([1, 2, 2, 3], [2, 4, 5, 6])
check("tie U", u, 2); check("tie p", p, 0.103754, tol=1e-6)
if how != "normal": fails.append("tie case not normal approximation")
# All values equal: variance 0, nothing to tell apart, p = 1.
u, p, how = m.mann_whitney_u([7, 7, 7], [7, 7, 7])
check("all equal p", p, 1.0)
# 11 v 11, no ties: exact. U=0: only the 2 extreme of C(22,11) = 705432
# arrangements, p = 2/705432 = 2.8352e-06.
u, p, how = m.mann_whitney_u(list(range(11)), list(range(11, 22)))
check("11v11 p", p, 2 / 705432, tol=1e-12)
if how != "exact": fails.append("11v11 not exact")
# 60 v 60 (over the exact limit of 50 a side), no ties: normal. U=0: mean
# 1800, variance 3600*121/12 = 36300, z = 1799.5/190.526 = 9.4449,
# p = erfc(z/sqrt 2) = 3.56e-21.
u, p, how = m.mann_whitney_u(list(range(60)), list(range(60, 120)))
check("60v60 p", p / 3.5595e-21, 1.0, tol=1e-3)
if how != "normal": fails.append("60v60 not normal approximation")
# The smallest p of values depends on the pooled values only: [5]*4+[6]*4
# split 4/4 has its extreme at [5,5,5,5] vs [6,6,6,6]; all equal gives 1.
check("smallest p of a tie split", m.smallest_p([6, 5, 6, 5], [5, 6, 5, 6]),
      m.mann_whitney_u([5] * 4, [6] * 4)[1])
check("smallest p all equal", m.smallest_p([3, 3], [3, 3]), 1.0)
# Benjamini-Hochberg: p 0.01, 0.02, 0.03, 0.5 (m = 4): q = 0.04, 0.04, 0.04, 0.5.
class T:
    def __init__(self, p): self.p, self.min_p, self.q = p, 0.0, None
ts = [T(0.03), T(0.5), T(0.01), T(0.02)]
check("BH family size", m.benjamini_hochberg(ts, 0.05), 4)
for t, want in zip(ts, [0.04, 0.5, 0.04, 0.04]):
    check(f"BH q of p={t.p}", t.q, want)
# A test whose smallest p is above alpha is not in the family.
ts = [T(0.01), T(0.3)]
ts[1].min_p = 0.2
check("BH family leaves out what cannot reach alpha", m.benjamini_hochberg(ts, 0.05), 1)
check("BH q alone", ts[0].q, 0.01)
print("\n".join(fails) if fails else "ok")
EOF
)
  if [[ $out == ok ]]; then
    pass "U test: hand-computed U and p-values"
  else
    fail "U test: hand-computed U and p-values"
    printf '  %s\n' "$out"
  fi
  run 0 "--selftest-u" --selftest-u
  expect_grep "--selftest-u: 5v5" '^\[1, 2, 3, 4, 5\] vs \[6, 7, 8, 9, 10\]: U=0 p=0\.00793651 \(exact\)$' "$TMP/out"
}

# One real run (if the binary is built): its CSV and its JSON hold the same
# numbers, so they compare equal; the real CSV header parses by name.
test_real_run() {
  local bin=${TWBENCH_BINARY:-}
  if [[ -z $bin || ! -x $bin ]]; then
    skip "real run" "no TWBENCH_BINARY"
    return
  fi
  if ! (cd "$TMP" && timeout 120 "$bin" --csv="$TMP/run.csv" --connections=200 \
      --benchmark_filter='reuseaddr:1/reuseport:0/closer:client/conc:1/payload:0/family:ipv4' \
      --benchmark_repetitions=2 --benchmark_out="$TMP/run.json" \
      --benchmark_out_format=json >"$TMP/run.log" 2>&1); then
    fail "real run: twbench failed"
    tail -n 5 "$TMP/run.log"
    return
  fi
  run 0 "real run: CSV vs its JSON" "$TMP/run.csv" "$TMP/run.json"
  expect_grep "real run: conn_per_s compared" 'closer:client/.* conn_per_s +2/2 ' "$TMP/out"
}

test_verdicts
test_json
test_formats
test_bad_input
test_hostile_input
test_interrupt
test_u_test
test_real_run

check_summary
