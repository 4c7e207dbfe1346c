#!/usr/bin/env bash
# The server rank's listener restarts across hosts (issue 11: "the server's
# rebind and restarts work as in one process; clients see what a real
# client sees"): mpirun -np 3 over scripts/mpi_topology, closer server,
# restart_every 500 with both restart modes. Every attempt of the client
# ranks completed or failed with a counted errno; stop_start leaves the
# server down for a while, overlap (SO_REUSEPORT, steered) refuses and
# resets nothing.
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "$ROOT/tests/lib/check.sh"
source "$ROOT/tests/lib/mpi.sh"

twb_job_setup twbs

TWB_MPIRUN_TIMEOUT=150
export TWB_MPIRUN_TIMEOUT
CHECK_TIMEOUT=200

expect_status "the job restarts the server and exits 0" 0 "${TWB_JOB[@]}" \
  --closer=server --reuseaddr=1 --reuseport=1 --restart_every=500 \
  --restart_mode=stop_start,overlap --concurrency=16 --payload=0 \
  --connections=4000 --time_limit=30 --csv="$TMP/job.csv"

row_checks "$TMP/job.csv" <<'PY'
header, rows = read_csv(sys.argv[1])
check("one row per restart mode", sorted(r["restart_mode"] for r in rows)
      == ["overlap", "stop_start"], [r["restart_mode"] for r in rows])
for r in rows:
    mode = r["restart_mode"]
    attempted, done = num(r, "attempted"), num(r, "connections")
    errors = num(r, "errors_total")
    check(f"{mode}: no error", r["error"] == "", r["error"])
    check(f"{mode}: hosts=3", num(r, "hosts") == 3, r["hosts"])
    check(f"{mode}: the whole budget attempted", attempted == 4000, attempted)
    check(f"{mode}: every attempt completed or failed with a counted errno",
          done + errors == attempted, (done, errors, attempted))
    # 4000 / 500 = 8 restarts, fewer when lost connections delay the count.
    check(f"{mode}: the server restarted", num(r, "restarts") >= 6,
          r["restarts"])
    check(f"{mode}: no restart gave up", num(r, "restarts_failed") == 0,
          r["restarts_failed"])
    if mode == "stop_start":
        check("stop_start: the server was down a while",
              num(r, "server_down_ms") > 0, r["server_down_ms"])
    else:
        check("overlap: never down", num(r, "server_down_ms") == 0,
              r["server_down_ms"])
        check("overlap: nothing refused or reset, nothing lost in a queue",
              num(r, "econnrefused") == 0 and num(r, "econnreset") == 0
              and num(r, "accept_queue_lost") == 0,
              (r["econnrefused"], r["econnreset"], r["accept_queue_lost"]))
PY
check "no namespace of the test is left" \
  test -z "$(ip netns list | grep -E "^$P")"
check_summary
