#!/usr/bin/env bash
# --isolate as a user without the privilege for network namespaces:
# auto falls back to the host namespace and says so (isolated=0 in every
# row); on refuses with a clear message and exit 2; a kernel knob is not
# written into the host namespace but fails its run with a clear error.
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
small=(--closer=server --concurrency=4 --reuseaddr=0,1 --payload=0
       --connections=200)

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
  >"$work/knob.out" 2>&1
check "a knob without a namespace fails its run, not the host" \
  grep -q "kernel knobs are set per run in a network namespace" "$work/knob.out"

# As root, auto isolates every run.
timeout 120 "$bin" "${small[@]}" --isolate=auto --csv="$work/root.csv" \
  >/dev/null 2>&1
check "auto with privilege: isolated=1" test "$(isolated_col "$work/root.csv")" = "2 1"

check_summary
