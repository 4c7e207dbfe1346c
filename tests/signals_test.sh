#!/usr/bin/env bash
# Every signal that ends twbench ends it the documented way (issue 12, point
# 3): SIGINT, SIGTERM, SIGHUP and SIGQUIT during the runs keep the run in
# flight and write a row for every run, the skipped ones saying which signal,
# and exit 128+n with a message naming it; during the set-up of a large
# matrix they end it at once, saying so; a closed stdout (| head -1) costs no
# row; and a 40,000-run matrix lists in seconds.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"

# Three runs; the first would take 30 s, so a signal finds it in flight.
# The engine's rows only (every engine row has its BM_Baseline row too).
LONG=(--reuseaddr=1 --closer=rst --concurrency=1,2,3 --payload=0
  --connections=100000000 --time_limit=30 --isolate=off
  --benchmark_filter=BM_Churn)

# signal_during_run SIGNAL NUMBER
signal_during_run() {
  local sig=$1 n=$2 pid status=0
  "$bin" "${LONG[@]}" --csv="$TMP/$sig.csv" >"$TMP/$sig.out" \
    2>"$TMP/$sig.err" &
  pid=$!
  # The first run has begun once the header line is printed (at most 20 s).
  for _ in $(seq 200); do
    grep -q '^twbench .* on ' "$TMP/$sig.out" 2>/dev/null && break
    sleep 0.1
  done
  sleep 1
  kill -s "$sig" "$pid"
  timeout -k 5 20 tail --pid="$pid" -f /dev/null
  kill -s KILL "$pid" 2>/dev/null
  wait "$pid" || status=$?
  check "$sig during a run: exit $((128 + n)) (got $status)" \
    test "$status" -eq $((128 + n))
  expect_grep "$sig during a run: the message names it" \
    "interrupted by $sig" "$TMP/$sig.err"
  row_checks "$TMP/$sig.csv" "$sig" <<'PY'
path, sig = sys.argv[1], sys.argv[2]
_, rows = read_csv(path)
check(f"{sig}: a row per run", len(rows) == 3, len(rows))
if len(rows) == 3:
    first = rows[0]
    check(f"{sig}: the run in flight is kept, measured",
          first["error"] == "" and num(first, "connections") > 0, first["error"])
    check(f"{sig}: the run in flight says interrupted",
          "interrupted" in first["label"], first["label"])
    for r in rows[1:]:
        check(f"{sig}: skipped run names the signal",
              r["error"] == f"skipped: interrupted ({sig})", r["error"])
PY
}

test_signals_during_runs() {
  signal_during_run SIGINT 2
  signal_during_run SIGTERM 15
  signal_during_run SIGHUP 1
  signal_during_run SIGQUIT 3
}

# 200 x 200 concurrency/payload values x 2 reuse = 80,000 names: the
# signal arrives during the set-up.
test_signal_during_setup() {
  local big status=0 start took
  big=(--concurrency="$(seq -s, 1 200)" --payload="$(seq -s, 0 199)"
    --closer=client --benchmark_list_tests=true)
  "$bin" "${big[@]}" >"$TMP/setup.out" 2>"$TMP/setup.err" &
  local pid=$!
  sleep 0.3
  kill -TERM "$pid"
  start=$(date +%s.%N)
  timeout -k 5 20 tail --pid="$pid" -f /dev/null
  kill -s KILL "$pid" 2>/dev/null
  wait "$pid" || status=$?
  took=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" \
    "$start" "$(date +%s.%N)")
  check "SIGTERM in set-up: exit 143 (got $status)" test "$status" -eq 143
  check "SIGTERM in set-up: ends within 5 s (${took} s)" \
    python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 5)" "$took"
  expect_grep "SIGTERM in set-up: the message names it" "SIGTERM" \
    "$TMP/setup.err"
}

# 200 concurrency x 200 payload values = 40,000 names, listed.
test_large_matrix_lists_fast() {
  local start took status=0
  start=$(date +%s.%N)
  timeout -k 5 60 "$bin" --concurrency="$(seq -s, 1 200)" \
    --payload="$(seq -s, 0 199)" --closer=client --reuseaddr=1 \
    --benchmark_list_tests=true >"$TMP/list.out" 2>"$TMP/list.err" ||
    status=$?
  took=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" \
    "$start" "$(date +%s.%N)")
  check "40,000 names: listed, exit 0 (got $status)" test "$status" -eq 0
  check "40,000 names: every name listed" \
    test "$(grep -c '^BM_Churn/' "$TMP/list.out")" -eq 40000
  check "40,000 names: within 15 s (${took} s)" \
    python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 15)" "$took"
}

# stdout closed after its first line: no SIGPIPE death, every row written.
test_closed_stdout() {
  local status
  "$bin" --reuseaddr=1 --closer=rst --concurrency=1,2 --payload=0 \
    --connections=50 --time_limit=10 --benchmark_filter=BM_Churn \
    --csv="$TMP/pipe.csv" \
    2>"$TMP/pipe.err" | head -n 1 >/dev/null
  status=${PIPESTATUS[0]}
  check "| head -1: twbench exits 0 (got $status)" test "$status" -eq 0
  row_checks "$TMP/pipe.csv" <<'PY'
_, rows = read_csv(sys.argv[1])
check("| head -1: both rows in the CSV", len(rows) == 2, len(rows))
check("| head -1: both measured", all(r["error"] == "" for r in rows))
PY
}

test_signals_during_runs
test_signal_during_setup
test_large_matrix_lists_fast
test_closed_stdout
check_summary
