# Sourced by the tests of scripts/bench's own options (after check.sh): a
# copy of the scripts in $TMP/root (results/ and build/ then land in $TMP),
# a cmake first on PATH that only records its arguments in $TMP/cmake.log,
# BENCH (the copy's bench, package check skipped) and expect_bad.
BENCH_ROOT=$TMP/root
mkdir -p "$BENCH_ROOT/build/release" "$TMP/fakebin"
cp -r "$ROOT/scripts" "$BENCH_ROOT/scripts"
cat >"$TMP/fakebin/cmake" <<EOF_CMAKE
#!/bin/sh
echo "cmake \$*" >>"$TMP/cmake.log"
EOF_CMAKE
chmod 755 "$TMP/fakebin/cmake"
BENCH=(env PATH="$TMP/fakebin:$PATH" TWBENCH_SKIP_PACKAGE_CHECK=1
  "$BENCH_ROOT/scripts/bench")

# expect_bad NAME PATTERN ARGS...: exit 2, a message matching PATTERN, and
# no cmake run (nothing built).
expect_bad() {
  local name=$1 pattern=$2
  shift 2
  rm -f "$TMP/cmake.log"
  expect_status "$name: exits 2" 2 "${BENCH[@]}" "$@"
  expect_grep "$name: says why" "$pattern" "$TMP/err"
  if [[ ! -e $TMP/cmake.log ]]; then
    pass "$name: nothing built"
  else
    fail "$name: cmake ran: $(head -n 1 "$TMP/cmake.log")"
  fi
}
