#!/usr/bin/env bash
# twbench --probe=timewait as a user runs it, with short bounds: a cell
# blocked by TIME_WAIT stops at its bound and says still_failing (exit 0), the
# fast cell says bound, the CSV has one row per cell, SIGINT stops a long run
# with exit 130 and the cells marked interrupted, and bad input (a bound of 0,
# a malformed cell) exits 2 naming the setting. The 60-second cells are not
# run here.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"
work=$TMP  # check.sh removes it on exit

# A TIME_WAIT-blocked cell and the fast cell, bound 0.5 s.
start=$(date +%s.%N)
timeout 30 "$bin" --probe=timewait --probe_bound=0.5 \
  --probe_cells=0/0/closed,1/1/closed --csv="$work/p.csv" \
  >"$work/out" 2>"$work/err"
status=$?
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" \
  "$start" "$(date +%s.%N)")
check "short bound exits 0" test "$status" -eq 0
check "stops in time (${took} s)" \
  python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 5)" "$took"
check "blocked cell says still_failing" \
  grep -Eq '^0/0/closed .*still_failing .*bind:EADDRINUSE' "$work/out"
check "fast cell says bound" grep -Eq '^1/1/closed .* bound ' "$work/out"
csv_check() {
  python3 - "$work/p.csv" <<'PY'
import csv, sys
rows = {r["cell"]: r for r in csv.DictReader(open(sys.argv[1]))}
assert set(rows) == {"0/0/closed", "1/1/closed"}, rows.keys()
b = rows["0/0/closed"]
assert b["result"] == "still_failing", b
assert b["last_step"] == "bind" and b["last_errno"] == "EADDRINUSE", b
assert 0.4 <= float(b["seconds"]) <= 0.6, b["seconds"]
assert 5 <= int(b["tries"]) <= 51, b["tries"]
assert b["time_wait_left"] == "1", b
f = rows["1/1/closed"]
assert f["result"] == "bound" and float(f["seconds"]) < 0.5, f
for r in rows.values():
    assert r["family"] == "ipv4" and r["bound_s"] == "0.5", r
    assert r["kernel"] and r["utc"], r
PY
}
check "CSV: one honest row per cell" csv_check

# SIGINT during a long bound: stops at once, exit 130, cells interrupted.
timeout 30 "$bin" --probe=timewait --probe_bound=60 \
  --probe_cells=0/0/closed,1/1/open --csv="$work/i.csv" \
  >"$work/iout" 2>"$work/ierr" &
pid=$!
# SIGINT once the probe has said it starts (its handler is set by then;
# on a loaded machine that can take over a second), at most 10 s.
for _ in $(seq 100); do
  grep -q '^probe: 2 cells' "$work/ierr" 2>/dev/null && break
  sleep 0.1
done
sleep 0.5
kill -INT "$pid"
start=$(date +%s.%N)
wait "$pid"
status=$?
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" \
  "$start" "$(date +%s.%N)")
check "SIGINT exits 130" test "$status" -eq 130
check "SIGINT stops within 1 s (${took} s)" \
  python3 -c "import sys; sys.exit(float(sys.argv[1]) >= 1)" "$took"
check "SIGINT: both cells interrupted in the CSV" \
  test "$(grep -c ',interrupted,' "$work/i.csv")" -eq 2

# Bad input: exit 2, the setting named.
"$bin" --probe=timewait --probe_bound=0 >"$work/b.out" 2>&1
check "bound 0 exits 2" test $? -eq 2
check "bound 0 names --probe_bound" grep -q -- '--probe_bound' "$work/b.out"
for bad in -1 abc 5s; do
  "$bin" --probe=timewait --probe_bound="$bad" >"$work/b.out" 2>&1
  check "bound $bad exits 2" test $? -eq 2
done
"$bin" --probe=timewait --probe_cells=2/0/open >"$work/c.out" 2>&1
check "bad cell exits 2" test $? -eq 2
check "bad cell names --probe_cells" grep -q -- '--probe_cells' "$work/c.out"
"$bin" --probe=nosuch >"$work/n.out" 2>&1
check "unknown probe exits 2" test $? -eq 2
"$bin" --help >"$work/h.out" 2>&1
check "--help mentions --probe=timewait" grep -q -- '--probe_bound' "$work/h.out"

# Without the privilege for namespaces: the host namespace, said once,
# isolated=0 in every row, the same answers on kernel-picked ports.
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
  chmod 777 "$work"
  cp "$bin" "$work/twbench" && chmod 755 "$work/twbench"
  timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$work/twbench" --probe=timewait --probe_bound=0.3 \
    --probe_cells=0/0/closed,1/1/closed --csv="$work/u.csv" \
    >"$work/uout" 2>"$work/uerr"
  check "unprivileged exits 0" test $? -eq 0
  check "unprivileged says host namespace once" \
    test "$(grep -c 'no network namespace per cell' "$work/uerr")" -eq 1
  check "unprivileged rows isolated=0" python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sys.exit(not (len(rows) == 2 and all(r["isolated"] == "0" for r in rows)))
' "$work/u.csv"
  check "unprivileged: blocked and fast cells as isolated" \
    grep -Eq '^0/0/closed .*still_failing' "$work/uout"
else
  skip "unprivileged fallback" "needs root and setpriv to drop to nobody"
fi

check_summary
