#!/usr/bin/env bash
# --isolate as a user without the privilege for network namespaces:
# auto falls back to the host namespace and says so (isolated=0 in every
# row); on refuses with a clear message and exit 2; so does a kernel knob
# flag, which is never written into the host namespace.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"

if [[ $(id -u) -ne 0 ]] || ! command -v setpriv >/dev/null; then
  skip_all "needs root and setpriv to drop to user nobody"
fi
work=$TMP  # check.sh removes it on exit
chmod 777 "$work"
# The binary must be reachable by nobody; copy it out of a private tree.
cp "$bin" "$work/twbench" && chmod 755 "$work/twbench"
as_nobody() {
  timeout 120 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$work/twbench" "$@"
}
# shellcheck disable=SC2054 # the commas are inside flag values
# The engine's rows only: every engine row the baseline can run has its
# BM_Baseline row too.
small=(--closer=server --concurrency=4 --reuseaddr=0,1 --payload=0
       --connections=200 --benchmark_filter=BM_Churn)

as_nobody "${small[@]}" --isolate=auto --csv="$work/auto.csv" \
  >"$work/auto.out" 2>"$work/auto.err"
status=$?
check "auto without privilege exits 0" test "$status" -eq 0
check "auto says once that it runs in the host namespace" \
  test "$(grep -c 'no network namespace per run' "$work/auto.err")" -eq 1
isolated_col() {
  python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(len(rows), ",".join(sorted({r["isolated"] for r in rows})))
PY
}
check "auto rows carry isolated=0" test "$(isolated_col "$work/auto.csv")" = "2 0"

as_nobody "${small[@]}" --isolate=on >"$work/on.out" 2>"$work/on.err"
status=$?
check "on without privilege exits 2" test "$status" -eq 2
check "on names what is missing" grep -q "cannot make one: unshare" "$work/on.err"

as_nobody "${small[@]}" --reuseaddr=1 --tw_reuse=0 --csv="$work/knob.csv" \
  >"$work/knob.out" 2>"$work/knob.err"
status=$?
check "a knob flag without a namespace exits 2" test "$status" -eq 2
check "and says the flag needs a namespace, and why there is none" \
  grep -q -- "--tw_reuse needs a network namespace per run.*cannot make one: unshare" \
  "$work/knob.err"
check "and writes no row" test ! -s "$work/knob.csv"

# The default matrix's knob and veth rows were not asked for by flag: they
# become error rows that say why, and the rest of the matrix runs.
as_nobody --benchmark_filter='/tw_reuse:0/' --connections=200 \
  --csv="$work/matrix.csv" >"$work/matrix.out" 2>"$work/matrix.err"
status=$?
check "default matrix without privilege exits 0" test "$status" -eq 0
check "its knob and veth rows are error rows naming the namespace" python3 - \
  "$work/matrix.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(len(rows), [r["error"][:60] for r in rows])
sys.exit(not (len(rows) == 3 and all(
    "network namespace" in r["error"] and r["connections"] == ""
    for r in rows)))
PY

# As root, auto isolates every run.
timeout 120 "$bin" "${small[@]}" --isolate=auto --csv="$work/root.csv" \
  >/dev/null 2>&1
check "auto with privilege: isolated=1" test "$(isolated_col "$work/root.csv")" = "2 1"

check_summary
