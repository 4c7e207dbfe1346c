#!/usr/bin/env bash
# Client ranks of an MPI job with client_addrs > 1 (issue 11: "client ranks
# churn their share ... with their loops and source addresses"): each client
# rank binds its own host's addresses toward the server, read from the
# kernel. mpi_topology gives client rank r 198.18.0.(r+1) and 198.18.r.2-4;
# the TIME_WAIT sockets the kernel holds in each client namespace after a
# client-close run must come from exactly those four. A host with fewer
# addresses than asked for is a row that says what it has, not a guess; and
# --timeseries, not built for jobs, is refused before anything runs.
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "$ROOT/tests/lib/check.sh"
source "$ROOT/tests/lib/mpi.sh"

twb_job_setup twbs --client_addrs=4
TWB_MPIRUN_TIMEOUT=120
export TWB_MPIRUN_TIMEOUT
CHECK_TIMEOUT=180

# After the job, before the topology goes: each client namespace's
# TIME_WAIT sockets to the server, one line "rank local-address".
# shellcheck disable=SC2016 # expanded in the topology's shell
TWB_JOB_AFTER='for r in 1 2; do
  ip netns exec "$TWB_TOPOLOGY_PREFIX$r" ss -Htn state time-wait \
    dst "$TWB_SERVER_ADDR" | awk -v r=$r "{ split(\$3, a, \":\"); print r, a[1] }"
done >"'"$TMP"'/tw_sources"'
export TWB_JOB_AFTER

expect_status "client_addrs 4 in a job runs and exits 0" 0 "${TWB_JOB[@]}" \
  --closer=client --reuseaddr=0 --client_addrs=4 --concurrency=16 --payload=0 \
  --connections=4000 --time_limit=30 --csv="$TMP/job.csv"
row_checks "$TMP/job.csv" "$TMP/tw_sources" <<'PY'
header, rows = read_csv(sys.argv[1])
check("one row", len(rows) == 1, len(rows))
r = rows[0]
check("no error", r["error"] == "", r["error"])
check("the whole budget", num(r, "connections") == 4000, r["connections"])
check("client_addrs_used: 4 on each of 2 client hosts",
      num(r, "client_addrs_used") == 8, r["client_addrs_used"])
by_rank = {}
for line in open(sys.argv[2]):
    rank, address = line.split()
    by_rank.setdefault(rank, {}).setdefault(address, 0)
    by_rank[rank][address] += 1
for rank in ("1", "2"):
    want = {f"198.18.0.{int(rank) + 1}"} | {f"198.18.{rank}.{i}"
                                            for i in (2, 3, 4)}
    got = by_rank.get(rank, {})
    check(f"rank {rank}'s TIME_WAIT comes from its four addresses, each used",
          set(got) == want, got)
    # Sources are taken in turn: each holds about a quarter of the rank's.
    total = sum(got.values())
    check(f"rank {rank}: each address holds a quarter (+-10%) of {total}",
          all(abs(n - total / 4) <= total / 40 + 2 for n in got.values()), got)
PY

unset TWB_JOB_AFTER
expect_status "client_addrs 5 on hosts of 4 addresses: exit 1, not a guess" 1 \
  "${TWB_JOB[@]}" --closer=client --reuseaddr=0 --client_addrs=5 --concurrency=16 --payload=0 \
  --connections=200 --time_limit=30 --csv="$TMP/five.csv"
row_checks "$TMP/five.csv" <<'PY'
header, rows = read_csv(sys.argv[1])
check("one row", len(rows) == 1, len(rows))
check("the row names the rank and the addresses it has", rows and
      rows[0]["error"] == "cannot run: rank 1: client_addrs 5: this host has 4"
      " (198.18.0.2 198.18.1.2 198.18.1.3 198.18.1.4) on its route to"
      " 198.18.0.1 and in the same prefix", rows[0]["error"] if rows else "")
PY

expect_status "--timeseries in a job: exit 2 before any run" 2 \
  "${TWB_JOB[@]}" --closer=client --reuseaddr=0 --concurrency=16 --connections=200 \
  --timeseries="$TMP/ts.csv" --csv="$TMP/ts_rows.csv"
expect_grep "the message names --timeseries" \
  '^twbench: --timeseries is not built for MPI jobs yet' "$TMP/err"
check "no time series file" test ! -e "$TMP/ts.csv"
check "no rows file" test ! -e "$TMP/ts_rows.csv"

check_summary
