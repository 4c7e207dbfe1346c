#!/usr/bin/env bash
# The premise of the MPI mode's tests: with the options of tests/lib/mpi.sh,
# mpirun -np 3 runs here (shared memory, no warnings), and a thread of each
# rank that enters the rank's namespace of scripts/mpi_topology (setns)
# makes sockets there (rank 0 listens, ranks 1 and 2 connect over the
# bridge) while MPI calls on the main thread keep working
# (tests/lib/mpi_netns_probe.cpp).
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"
source "$ROOT/tests/lib/mpi.sh"

twb_mpi_require

P=twbm$$x
trap '"$ROOT/scripts/mpi_topology" down --prefix="$P" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# OMPI_SKIP_MPICXX: mpi.h without Open MPI's deprecated C++ bindings, whose
# old-style casts the project's warnings reject (and half the compile time).
expect_status "the probe compiles with mpicxx" 0 \
  mpicxx -std=c++20 -O1 -DOMPI_SKIP_MPICXX=1 -Wall -Wextra -Wshadow \
  -Wold-style-cast -Werror -pthread -o "$TMP/probe" \
  "$ROOT/tests/lib/mpi_netns_probe.cpp"

# shellcheck disable=SC2016 # expanded by the command's shell
expect_status "mpirun -np 3 in the topology exits 0" 0 \
  "$ROOT/scripts/mpi_topology" run 2 --prefix="$P" -- bash -c \
  'source "$1" && twb_mpirun "$TWB_NP" "$2" "$TWB_RANK_NETNS" "$TWB_SERVER_ADDR"' \
  run "$ROOT/tests/lib/mpi.sh" "$TMP/probe"
for rank in 0 1 2; do
  expect_grep "rank $rank: its loop thread in another namespace than MPI's" \
    "^rank $rank: main thread net:\[[0-9]+\], loop thread net:\[[0-9]+\]: apart$" "$TMP/out"
done
expect_grep "rank 0 received both clients' ranks" \
  '^rank 0: received ranks summing to 3 of 3$' "$TMP/out"
# Only the topology's lines (mpi_topology run prints them on stderr).
grep -v -E '^(rank [0-9]+ netns|bridge netns) ' "$TMP/err" >"$TMP/mpi.err"
expect_no_grep "mpirun printed no warning or error" '.' "$TMP/mpi.err"
check_summary
