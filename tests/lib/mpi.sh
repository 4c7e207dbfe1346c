# shellcheck shell=bash
# The mpirun command line of the MPI tests: every rank on this machine (the
# "hosts" are namespaces of scripts/mpi_topology, which the ranks' loop
# threads enter; MPI itself stays in the namespace mpirun started in).
# Sourced by tests/*_test.sh; defines variables and functions only.

# Each option, and why (Open MPI 4.1 of Debian 12, measured here):
# shellcheck disable=SC2054 # the commas are inside option values
TWB_MPIRUN_OPTIONS=(
  # The tests run as root (namespaces); mpirun refuses root without it.
  --allow-run-as-root
  # 1+K ranks on 2 cores: more ranks than slots (one per core), else
  # "not enough slots available".
  --oversubscribe
  # With no more ranks than cores mpirun binds each rank to one core, and a
  # rank's loop threads would share it.
  --bind-to none
  # The point-to-point layer over the byte transports below, not UCX (built
  # into Debian's Open MPI), which would look for InfiniBand devices.
  --mca pml ob1
  # Messages between ranks through shared memory only (vader; self to
  # itself): the tcp transport would open sockets on every interface of
  # the namespace mpirun runs in.
  --mca btl self,vader
  # Copies through the shared segment instead of CMA (process_vm_readv),
  # which needs ptrace rights containers often deny ("Read -1, expected").
  --mca btl_vader_single_copy_mechanism none
  # mpirun talks to its ranks (out of band) over loopback only: no
  # dependence on the machine's other interfaces; lo must be up.
  --mca oob_tcp_if_include lo
)

# How long one mpirun may take in a test before it is stopped (SIGTERM,
# which mpirun passes to its ranks; SIGKILL 10 s later).
TWB_MPIRUN_TIMEOUT=${TWB_MPIRUN_TIMEOUT:-120}

# twb_mpirun NP PROGRAM [ARGS...]: PROGRAM as NP ranks on this machine.
twb_mpirun() {
  local np=$1
  shift
  # Under AddressSanitizer (scripts/test exports ASAN_OPTIONS): Open MPI's
  # leaks are suppressed by library (tests/lsan.supp), which needs the slow
  # unwinder and its components kept loaded to see the libraries.
  if [[ -n ${ASAN_OPTIONS:-} ]]; then
    local -x LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}fast_unwind_on_malloc=0"
    local -x OMPI_MCA_mca_base_component_disable_dlclose=1
  fi
  timeout --kill-after=10 "$TWB_MPIRUN_TIMEOUT" \
    mpirun "${TWB_MPIRUN_OPTIONS[@]}" -np "$np" "$@"
}

# twb_mpi_missing: prints why MPI tests cannot run here (nothing when they
# can): the commands of the Debian packages openmpi-bin and libopenmpi-dev.
twb_mpi_missing() {
  local cmd
  for cmd in mpirun mpicxx; do
    command -v "$cmd" >/dev/null 2>&1 || {
      printf '%s not found (Debian packages openmpi-bin libopenmpi-dev; scripts/test installs them as root)\n' "$cmd"
      return
    }
  done
}

# twb_mpi_require: ends the test as skipped (skip_all, tests/lib/check.sh)
# unless it can run here: root (ip netns add), MPI, ip.
twb_mpi_require() {
  [[ $(id -u) -eq 0 ]] || skip_all "network namespaces need root (ip netns add)"
  local why
  why=$(twb_mpi_missing)
  [[ -z $why ]] || skip_all "$why"
  command -v ip >/dev/null || skip_all "ip not found (Debian iproute2)"
}

# twb_job_setup STEM: for a test of twbench jobs (it has set $ROOT and $bin
# and sourced check.sh): skips unless they can run here, names the test's
# topology prefix P (STEM and the pid), removes that topology (and $TMP) on
# exit, and sets TWB_JOB, the command that runs twbench as 3 ranks (server
# rank 0, client ranks 1 and 2) in it with each rank's --rank_netns and
# --server_addr: "${TWB_JOB[@]}" ARGS... (a command, so timeout can run it).
# TWB_JOB_BEFORE, when exported, is run (eval) in the topology first, with
# its TWB_* variables (e.g. to cut a rank off the bridge); TWB_JOB_AFTER
# after mpirun, before the topology goes (e.g. to read the ranks' sockets),
# the job's status kept. Further arguments go to "mpi_topology run" (e.g.
# --client_addrs=4).
twb_job_setup() {
  local stem=$1
  shift
  twb_mpi_require
  # shellcheck disable=SC2154 # the test's
  "$bin" --help | grep -q -- '--rank_netns' ||
    skip_all "this twbench has no MPI mode"
  P=$stem$$x
  # shellcheck disable=SC2064 # P and ROOT are fixed from here on
  trap "\"$ROOT/scripts/mpi_topology\" down --prefix=\"$P\" >/dev/null 2>&1; rm -rf \"\$TMP\"" EXIT
  # shellcheck disable=SC2016,SC2034 # expanded by the command's shell; used by the test
  TWB_JOB=("$ROOT/scripts/mpi_topology" run 2 --prefix="$P" "$@" -- bash -c
    'source "$1" && bin=$2 && shift 2 && eval "${TWB_JOB_BEFORE:-:}" || exit
     twb_mpirun "$TWB_NP" "$bin" --rank_netns="$TWB_RANK_NETNS" \
       --server_addr="$TWB_SERVER_ADDR" "$@"
     status=$?
     eval "${TWB_JOB_AFTER:-:}"
     exit "$status"'
    run "$ROOT/tests/lib/mpi.sh" "$bin")
}
