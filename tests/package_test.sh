#!/usr/bin/env bash
# Installing: cmake --install of the test build into a fresh prefix gives a
# twbench and scripts that run from there (bench runs the installed binary
# and writes results/ in the current directory; nothing is built); cpack
# makes a .deb whose control fields and contents are right, and the binary
# and scripts run both extracted from it (dpkg-deb -x) and installed with
# dpkg into a clean root; apt finds its Depends met on this machine.
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"
build=${TWBENCH_BUILD_DIR:-$(dirname "${TWBENCH_BINARY:?TWBENCH_BINARY or TWBENCH_BUILD_DIR must name the build}")}
[[ -f $build/cmake_install.cmake ]] ||
  skip_all "$build is no configured build directory (no cmake_install.cmake)"
[[ -x $build/twbench ]] || skip_all "$build/twbench is not built"

SCRIPTS=(bench compare summary plot mpi_topology)
version=$(sed -nE 's/^project\(twbench VERSION ([0-9.]+).*/\1/p' "$ROOT/CMakeLists.txt")

# expect_runs NAME TREE: TREE/bin/twbench and each script's --help exit 0;
# summary reads a fixture (its Python finds lib/).
expect_runs() {
  local name=$1 tree=$2 script
  expect_status "$name: bin/twbench --help exits 0" 0 "$tree/bin/twbench" --help
  expect_grep "$name: bin/twbench --help lists its flags" '--closer' "$TMP/out"
  for script in "${SCRIPTS[@]}"; do
    expect_status "$name: $script --help exits 0" 0 \
      "$tree/share/twbench/scripts/$script" --help
  done
  expect_status "$name: summary reads a results file" 0 \
    "$tree/share/twbench/scripts/summary" "$ROOT/tests/fixtures/churn_small.csv"
}

test_install() {
  local prefix=$TMP/prefix work=$TMP/work
  expect_status "cmake --install into a fresh prefix exits 0" 0 \
    cmake --install "$build" --prefix "$prefix"
  (cd "$prefix" && find . -type f | sort) >"$TMP/installed"
  expect_grep "installed bin/twbench" '^\./bin/twbench$' "$TMP/installed"
  expect_grep "installed lib/common.sh" '^\./share/twbench/scripts/lib/common\.sh$' "$TMP/installed"
  expect_grep "installed lib/installed.sh" '^\./share/twbench/scripts/lib/installed\.sh$' "$TMP/installed"
  grep -Ev '^\./(bin/twbench|share/twbench/scripts/.+)$' "$TMP/installed" >"$TMP/extra"
  check "nothing installed beside bin/twbench and share/twbench/scripts/" \
    test ! -s "$TMP/extra"
  expect_runs "installed" "$prefix"

  # The installed bench runs the installed binary: nothing configured or
  # built, results/ in the current directory.
  mkdir -p "$work"
  CHECK_TIMEOUT=120 expect_status "installed bench runs the installed binary" 0 \
    env -C "$work" TWBENCH_SKIP_PACKAGE_CHECK=1 "$prefix/share/twbench/scripts/bench" \
    --benchmark_filter='^BM_Churn/' --closer=server --concurrency=4 \
    --reuseaddr=1 --payload=0 --connections=200
  expect_grep "installed bench names its binary" "run $prefix/bin/twbench " "$TMP/err"
  expect_no_grep "installed bench builds nothing" '==> (configure|build) ' "$TMP/err"
  expect_grep "installed bench writes results/ in the current directory" \
    "^CSV: $work/results/[^/]+\.csv$" "$TMP/out"
}

test_deb() {
  local name=".deb"
  if ! command -v dpkg-deb >/dev/null || ! command -v dpkg-shlibdeps >/dev/null; then
    skip "$name" "needs dpkg-deb and dpkg-shlibdeps (Debian dpkg-dev)"; return
  fi
  expect_status "cpack -G DEB exits 0" 0 \
    cpack -G DEB --config "$build/CPackConfig.cmake" -B "$TMP/deb"
  local -a debs=()
  mapfile -t debs < <(find "$TMP/deb" -maxdepth 1 -name 'twbench_*.deb')
  if ((${#debs[@]} != 1)); then
    fail "cpack made ${#debs[@]} .deb files, want 1"; return
  fi
  local deb=${debs[0]}
  check "the .deb is twbench_${version}_<arch>.deb" \
    test "${deb##*/}" = "twbench_${version}_$(dpkg --print-architecture).deb"
  dpkg-deb --info "$deb" >"$TMP/info"
  expect_grep "info: Package twbench" '^ Package: twbench$' "$TMP/info"
  expect_grep "info: Version from the project" "^ Version: ${version//./\\.}$" "$TMP/info"
  # The libraries twbench links, as dpkg-shlibdeps names them (spdlog's
  # through the virtual package of its fmt ABI, libspdlog1.10-fmt9).
  local lib
  for lib in libc6 'libstdc\+\+6' libuv1 libbenchmark1debian \
    'libspdlog1\.10(-fmt9)?' libfmt9 libmnl0; do
    expect_grep "info: Depends on ${lib//\\/}" "^ Depends: (.*, )?${lib}( |,|$)" "$TMP/info"
  done
  expect_grep "info: Recommends python3, iproute2, openmpi-bin" \
    '^ Recommends: .*python3.*iproute2.*openmpi-bin' "$TMP/info"
  # The MPI mode links libmpi: a build with it depends on Open MPI's library
  # (every rank needs it to start); mpirun itself (openmpi-bin) only on the
  # host that launches, a Recommends.
  if [[ $(ldd "$build/twbench" 2>/dev/null) == *libmpi.so* ]]; then
    expect_grep "info: Depends on libopenmpi3 (the MPI mode links libmpi)" \
      '^ Depends: (.*, )?libopenmpi3( |,|$)' "$TMP/info"
  fi
  expect_no_grep "info: openmpi-bin is no Depends" '^ Depends: .*openmpi-bin' "$TMP/info"
  dpkg-deb --contents "$deb" >"$TMP/contents"
  expect_grep "contents: usr/bin/twbench" ' \./usr/bin/twbench$' "$TMP/contents"
  expect_grep "contents: the scripts" ' \./usr/share/twbench/scripts/mpi_topology$' "$TMP/contents"
  expect_grep "contents: the scripts' lib/" ' \./usr/share/twbench/scripts/lib/resultfile\.py$' "$TMP/contents"
  expect_status "dpkg-deb -x exits 0" 0 dpkg-deb -x "$deb" "$TMP/x"
  expect_runs "extracted" "$TMP/x/usr"
  test_deb_install "$deb"
}

# test_deb_install DEB: a real dpkg install into a clean root (a database
# of its own, nothing else installed: --force-depends, the binary then runs
# on this machine's libraries), and apt's resolver on this machine: the
# Depends are met by what is installed, nothing else would come.
test_deb_install() {
  local deb=$1 root=$TMP/root
  if [[ $(id -u) -ne 0 ]]; then
    skip "dpkg -i into a clean root" "needs root (dpkg chowns what it unpacks)"
    return
  fi
  mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" \
    "$root/var/lib/dpkg/triggers"
  : >"$root/var/lib/dpkg/status"
  expect_status "dpkg -i into a clean root exits 0" 0 \
    dpkg --root="$root" --force-depends --log=/dev/null -i "$deb"
  expect_status "dpkg-query: installed there" 0 \
    dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}\n' twbench
  expect_grep "dpkg-query: install ok installed" '^install ok installed$' \
    "$TMP/out"
  expect_runs "installed in a clean root" "$root/usr"
  if command -v apt-get >/dev/null; then
    expect_status "apt-get -s install of the .deb exits 0" 0 \
      apt-get install -s --no-install-recommends "$deb"
    expect_grep "apt would install twbench" '^Inst twbench ' "$TMP/out"
    expect_no_grep "apt would install nothing else (Depends met here)" \
      '^Inst [^t]|^Inst t[^w]' "$TMP/out"
  fi
}

expect_status "scripts/package --help exits 0" 0 "$ROOT/scripts/package" --help
expect_grep "scripts/package --help prints usage" '^Usage: scripts/package' "$TMP/out"
test_install
test_deb
check_summary
