#!/usr/bin/env bash
# Results are never lost silently (issue 12, point 1): every results file
# (the CSV, the time series, the probe's CSV) is written through one checked
# path. A write that fails (/dev/full, a full disk) is a message naming the
# file and the errno and exit 1, after the other outputs are written, and the
# file on a full disk ends with a whole row; two outputs naming one file, or
# a directory that does not exist, are exit 2 before anything runs.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"

# One short run: an RST close leaves no TIME_WAIT to wait for.
# The engine's row only (every engine row has its BM_Baseline row too).
ONE=(--reuseaddr=1 --closer=rst --concurrency=1 --payload=0 --connections=50
  --time_limit=10 --benchmark_filter=BM_Churn)

test_dev_full() {
  expect_status "--csv=/dev/full exits 1" 1 "$bin" "${ONE[@]}" --csv=/dev/full
  expect_grep "--csv=/dev/full: names the file and the errno" \
    "--csv /dev/full: writing failed: No space left on device" "$TMP/err"
  expect_status "--timeseries=/dev/full exits 1" 1 "$bin" "${ONE[@]}" \
    --csv="$TMP/ts.csv" --timeseries=/dev/full
  expect_grep "--timeseries=/dev/full: names the file" \
    "--timeseries /dev/full: writing failed: No space left on device" \
    "$TMP/err"
  # The other output is written in full all the same.
  check "--timeseries=/dev/full: the CSV has its row" \
    test "$(wc -l <"$TMP/ts.csv")" -eq 2
  expect_status "--benchmark_out=/dev/full exits 1" 1 "$bin" "${ONE[@]}" \
    --csv="$TMP/json.csv" --benchmark_out=/dev/full
  expect_grep "--benchmark_out=/dev/full: names the file and the errno" \
    "--benchmark_out /dev/full: writing failed: No space left on device" \
    "$TMP/err"
  check "--benchmark_out=/dev/full: the CSV has its row" \
    test "$(wc -l <"$TMP/json.csv")" -eq 2
  expect_status "probe --csv=/dev/full exits 1" 1 "$bin" --probe=timewait \
    --probe_bound=0.2 --probe_cells=1/1/closed --csv=/dev/full
  expect_grep "probe --csv=/dev/full: names the file and the errno" \
    "--csv /dev/full: writing failed: No space left on device" "$TMP/err"
}

# expect_refused NAME PATTERN ARGS...: exit 2, the message, nothing run.
expect_refused() {
  local name=$1 pattern=$2
  shift 2
  expect_status "$name: exits 2" 2 "$bin" "${ONE[@]}" "$@"
  expect_grep "$name: says why" "$pattern" "$TMP/err"
  expect_no_grep "$name: nothing ran" '^\[1/' "$TMP/out"
}

test_clashes() {
  cd "$TMP" || return
  echo keep >"$TMP/old.csv"
  expect_refused "--csv and --timeseries the same file" \
    "--csv=$TMP/x.csv and --timeseries=$TMP/x.csv name the same file" \
    --csv="$TMP/x.csv" --timeseries="$TMP/x.csv"
  expect_refused "the same file spelled twice" "name the same file" \
    --csv=x.csv --timeseries="$TMP/./x.csv"
  ln -sf old.csv "$TMP/link.csv"
  expect_refused "the same file through a symlink" "name the same file" \
    --csv="$TMP/old.csv" --benchmark_out="$TMP/link.csv"
  check "the same file: left as it was" grep -qx keep "$TMP/old.csv"
  expect_refused "--csv and --benchmark_out the same file" \
    "name the same file" --csv="$TMP/y.csv" --benchmark_out="$TMP/y.csv"
  expect_refused "--benchmark_out in a missing directory" \
    "--benchmark_out=/nonexistent/x.json: directory /nonexistent does not exist" \
    --csv="$TMP/old.csv" --benchmark_out=/nonexistent/x.json
  check "missing directory: the CSV left as it was" grep -qx keep "$TMP/old.csv"
  expect_refused "--csv in a missing directory" "directory .*does not exist" \
    --csv="$TMP/no/such/dir/x.csv"
  expect_refused "--timeseries a directory" "is a directory" \
    --timeseries="$TMP"
  # Devices may be shared: nothing is kept there.
  expect_status "/dev/null twice is fine" 0 "$bin" "${ONE[@]}" \
    --csv=/dev/null --timeseries=/dev/null
  cd - >/dev/null || return
}

# A 4 KiB tmpfs in a mount namespace of its own (nothing stays mounted): a
# dozen runs fill it after a few rows.
test_full_disk() {
  if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null; then
    skip "full disk" "needs root and unshare for a private 4 KiB tmpfs"
    return
  fi
  mkdir -p "$TMP/small"
  cat >"$TMP/full.sh" <<EOF_FULL
mount -t tmpfs -o size=4k tmpfs "$TMP/small" || exit 99
"$bin" --reuseaddr=0,1 --closer=client,server,rst --concurrency=1,2 \\
  --payload=0 --connections=20 --time_limit=10 --benchmark_filter=BM_Churn \\
  --csv="$TMP/small/r.csv" \\
  >"$TMP/out" 2>"$TMP/err"
status=\$?
cp "$TMP/small/r.csv" "$TMP/r.csv"
exit \$status
EOF_FULL
  local status=0
  timeout -k 5 120 unshare -m --propagation private bash "$TMP/full.sh" ||
    status=$?
  if ((status == 99)); then
    skip "full disk" "cannot mount a tmpfs here"
    return
  fi
  check "full disk: exit 1 (got $status)" test "$status" -eq 1
  expect_grep "full disk: names the file and the errno" \
    "--csv $TMP/small/r.csv: writing failed: No space left on device" \
    "$TMP/err"
  check "full disk: all 12 runs still ran" \
    test "$(grep -c '^\[[0-9]*/12\]' "$TMP/out")" -eq 12
  check "full disk: the file ends with a whole row" python3 - "$TMP/r.csv" <<'PY'
import csv, sys
data = open(sys.argv[1], newline="").read()
assert data.endswith("\n"), repr(data[-40:])
rows = list(csv.reader(data.splitlines()))
assert len(rows) >= 2, len(rows)
assert all(len(r) == len(rows[0]) for r in rows), [len(r) for r in rows]
PY
}

test_dev_full
test_clashes
test_full_disk
check_summary
