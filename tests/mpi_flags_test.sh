#!/usr/bin/env bash
# The ranks of an MPI job must run the same benchmarks (issue 11): rank 0
# broadcasts a hash of each flag it was given, every rank compares its own,
# and a difference is exit 2 on every rank, with one message (rank 0's)
# naming the flag and the ranks. mpirun's MPMD form ("-np 1 A : -np 2 B")
# gives ranks different command lines. All ranks on this host in one
# namespace: no topology, no root needed beyond mpirun itself.
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "$ROOT/tests/lib/check.sh"
source "$ROOT/tests/lib/mpi.sh"

why=$(twb_mpi_missing)
[[ -z $why ]] || skip_all "$why"
"$bin" --help | grep -q -- '--rank_netns' || skip_all "this twbench has no MPI mode"
TWB_MPIRUN_TIMEOUT=60
export TWB_MPIRUN_TIMEOUT
CHECK_TIMEOUT=90

# twb_mpirun as a command, for expect_status's timeout to run.
# shellcheck disable=SC2016 # expanded by that shell
MPIRUN=(bash -c 'source "$1" && shift && twb_mpirun "$@"' run "$ROOT/tests/lib/mpi.sh")
# Each rank through a shell that notes its status in $TMP/status.RANK.
# shellcheck disable=SC2016 # expanded by that shell
noted=(bash -c '"$0" "$@"; s=$?; echo $s >"'"$TMP"'/status.$OMPI_COMM_WORLD_RANK"; exit $s' "$bin")
common=(--closer=rst --reuseaddr=1 --concurrency=4 --payload=0 --connections=200)

expect_status "the same flags on every rank: the job runs, exit 0" 0 \
  "${MPIRUN[@]}" 3 "$bin" "${common[@]}" --csv="$TMP/same.csv"
check "rank 0 wrote the run's row" test "$(wc -l <"$TMP/same.csv")" -eq 2

# mpirun kills the other ranks as soon as one exits non-zero, before a
# slower one (LeakSanitizer at exit) has ended by itself. Told not to, it
# waits for all three (and exits 0 itself), so every rank's own status is
# seen; mpirun's usual exit 2 is checked with the next job.
expect_status "rank 1 and 2 with another --closer: mpirun waits for all" 0 \
  "${MPIRUN[@]}" 1 --mca orte_abort_on_non_zero_status 0 "${noted[@]}" "${common[@]}" --csv="$TMP/differ.csv" : \
  -np 2 "${noted[@]}" "${common[@]/--closer=rst/--closer=server}" \
  --csv="$TMP/differ.csv"
check "every rank exited 2 ($(cat "$TMP"/status.* 2>/dev/null | tr '\n' ' '))" \
  test "$(cat "$TMP"/status.0 "$TMP"/status.1 "$TMP"/status.2 2>/dev/null | tr -d '\n')" = 222
expect_grep "one message naming the flag and the ranks" \
  '^twbench: the ranks of the job were started with different flags .*rank 1 differs from rank 0 in --closer; rank 2 differs from rank 0 in --closer$' \
  "$TMP/err"
check "said once (rank 0 only)" \
  test "$(grep -c 'started with different flags' "$TMP/err")" -eq 1
check "nothing ran, no file written" test ! -e "$TMP/differ.csv"

expect_status "a flag only rank 2 has: exit 2" 2 \
  "${MPIRUN[@]}" 2 "$bin" "${common[@]}" : -np 1 "$bin" "${common[@]}" \
  --benchmark_repetitions=2
expect_grep "it is named, for rank 2 alone" \
  'started with different flags .*: rank 2 differs from rank 0 in --benchmark_repetitions$' \
  "$TMP/err"

check_summary
