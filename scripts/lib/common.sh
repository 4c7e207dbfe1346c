# Shell functions shared by the bash scripts (bench, test, package,
# mpi_topology). Source it after setting TWBENCH_ROOT to the repository root
# (installed: PREFIX/share/twbench); it defines functions and lists only.
# shellcheck shell=bash

# Debian packages, by purpose. Extend a list here; twbench_packages joins them.
TWBENCH_BUILD_PACKAGES=(g++ cmake pkg-config libuv1-dev libbenchmark-dev
  libspdlog-dev libgtest-dev libmnl-dev libcli11-dev nlohmann-json3-dev)
# python3-scipy: scripts/compare's Mann-Whitney U test (scipy.stats).
TWBENCH_RUNTIME_PACKAGES=(python3 python3-scipy iproute2)
# Plots (scripts/plot): gnuplot without X, with the pngcairo and svg terminals.
TWBENCH_PLOT_PACKAGES=(gnuplot-nox)
# The MPI mode: mpirun and the MPI headers and libraries (Open MPI).
TWBENCH_MPI_PACKAGES=(openmpi-bin libopenmpi-dev)
# The .deb (scripts/package): dpkg-shlibdeps finds its Depends.
TWBENCH_DEB_PACKAGES=(dpkg-dev)

twbench_log() {
  printf '==> %s\n' "$*" >&2
}

twbench_die() {
  local status=$1
  shift
  printf '%s: %s\n' "${0##*/}" "$*" >&2
  exit "$status"
}

# Every package needed, one per line; with arguments, those packages instead
# (scripts/plot needs only the plot packages). TWBENCH_EXTRA_PACKAGES (space
# or comma separated) adds more, e.g. to try a package or to test the missing
# path.
twbench_packages() {
  local extra=${TWBENCH_EXTRA_PACKAGES:-}
  local -a extras=()
  read -r -a extras <<<"${extra//,/ }"
  if (($# > 0)); then
    printf '%s\n' "$@" ${extras[@]+"${extras[@]}"}
    return
  fi
  printf '%s\n' "${TWBENCH_BUILD_PACKAGES[@]}" "${TWBENCH_RUNTIME_PACKAGES[@]}" \
    ${TWBENCH_PLOT_PACKAGES[@]+"${TWBENCH_PLOT_PACKAGES[@]}"} \
    "${TWBENCH_MPI_PACKAGES[@]}" "${TWBENCH_DEB_PACKAGES[@]}" \
    ${extras[@]+"${extras[@]}"}
}

# The twbench binary of an install (cmake --install, the .deb): the install
# writes scripts/lib/installed.sh, which a checkout never has. Prints
# nothing in a checkout; fails when the installed binary is not there.
twbench_installed_binary() {
  local installed=$TWBENCH_ROOT/scripts/lib/installed.sh
  local TWBENCH_INSTALLED_BINARY=''
  [[ -f $installed ]] || return 0
  # shellcheck source=/dev/null # written by the install
  source "$installed"
  local dir
  if dir=$(cd "$TWBENCH_ROOT/scripts/${TWBENCH_INSTALLED_BINARY%/*}" 2>/dev/null &&
    pwd) && [[ -x $dir/twbench ]]; then
    printf '%s/twbench\n' "$dir"
    return 0
  fi
  printf '%s: the installed twbench binary is missing: %s (reinstall the package)\n' \
    "${0##*/}" "$TWBENCH_ROOT/scripts/$TWBENCH_INSTALLED_BINARY" >&2
  return 2
}

# Prints the packages that are not installed, one per line. Arguments: as
# twbench_packages.
twbench_missing_packages() {
  local pkg status
  while read -r pkg; do
    [[ -n $pkg ]] || continue
    # Unknown packages make dpkg-query fail: that counts as missing too.
    status=$(dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null || true)
    if ! grep -qx 'install ok installed' <<<"$status"; then
      printf '%s\n' "$pkg"
    fi
  done < <(twbench_packages "$@")
}

# Installs missing packages as root; otherwise says what to install and
# returns 2. Nothing missing: no apt at all. Arguments: as twbench_packages.
twbench_ensure_packages() {
  if [[ ${TWBENCH_SKIP_PACKAGE_CHECK:-0} == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    twbench_log "dpkg-query not found (not Debian?): not checking packages"
    return 0
  fi
  local -a missing=()
  mapfile -t missing < <(twbench_missing_packages "$@")
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if [[ $(id -u) != 0 ]]; then
    {
      printf '%s: missing Debian packages: %s\n' "${0##*/}" "${missing[*]}"
      printf 'Run this script as root to install them, or install them as root\n'
      printf 'with the same commands it would run:\n'
      printf 'sudo apt-get update && sudo apt-get install -y --no-install-recommends %s\n' \
        "${missing[*]}"
    } >&2
    return 2
  fi
  twbench_log "installing missing packages: ${missing[*]}"
  # Explicit checks: callers may run this where set -e does not apply.
  DEBIAN_FRONTEND=noninteractive apt-get update || return $?
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}" || return $?
  mapfile -t missing < <(twbench_missing_packages "$@")
  if ((${#missing[@]} != 0)); then
    printf '%s: still missing after apt-get install: %s\n' "${0##*/}" \
      "${missing[*]}" >&2
    return 2
  fi
}

# Configures (always: it refreshes the git commit compiled in) and builds.
# Usage: twbench_build <build dir under the root> <CMAKE_BUILD_TYPE> [-D... cmake
# settings] [cmake --build args]
twbench_build() {
  local dir=$1 type=$2
  shift 2
  local -a settings=()
  while (($# > 0)) && [[ $1 == -D* ]]; do
    settings+=("$1")
    shift
  done
  twbench_log "configure $dir ($type${settings[*]+ ${settings[*]}})"
  cmake -S "$TWBENCH_ROOT" -B "$TWBENCH_ROOT/$dir" -DCMAKE_BUILD_TYPE="$type" \
    ${settings[@]+"${settings[@]}"}
  twbench_log "build $dir"
  cmake --build "$TWBENCH_ROOT/$dir" -j"$(nproc)" "$@"
}
