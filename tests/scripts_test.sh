#!/usr/bin/env bash
# shellcheck disable=SC2016 # bash -c scripts get their arguments as $1
# Tests of the scripts: scripts/summary on fixture CSVs (exact output), its
# bad-input exits, the --help of each script, and the package check of
# scripts/lib/common.sh (not-root path as user nobody, root path with a fake
# apt-get, fast path). Run by ctest (script.scripts_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FIXTURES=$ROOT/tests/fixtures
source "$ROOT/tests/lib/check.sh"

# expect_output NAME EXPECTED_FILE: compares $TMP/out with the file.
expect_output() {
  if diff -u "$2" "$TMP/out" >"$TMP/diff"; then
    pass "$1"
  else
    fail "$1"
    head -n 40 "$TMP/diff"
  fi
}

test_summary() {
  local summary=$ROOT/scripts/summary
  expect_status "summary: small fixture exits 0" 0 \
    "$summary" "$FIXTURES/churn_small.csv"
  expect_output "summary: small fixture, exact text" \
    "$FIXTURES/churn_small.summary.txt"
  expect_status "summary: markdown exits 0" 0 \
    "$summary" --format=markdown "$FIXTURES/churn_small.csv"
  expect_output "summary: small fixture, exact markdown" \
    "$FIXTURES/churn_small.summary.md"
  expect_status "summary: repetitions fixture exits 0" 0 \
    "$summary" "$FIXTURES/churn_repetitions.csv"
  expect_output "summary: repetitions use mean rows, exact text" \
    "$FIXTURES/churn_repetitions.summary.txt"

  expect_status "summary: missing file exits 2" 2 \
    "$summary" "$TMP/no-such-file.csv"
  expect_grep "summary: missing file says so" "cannot read" "$TMP/err"

  cut -d, -f1-20 "$FIXTURES/churn_small.csv" >"$TMP/few_columns.csv"
  expect_status "summary: missing columns exit 2" 2 \
    "$summary" "$TMP/few_columns.csv"
  expect_grep "summary: missing columns are named" \
    "missing column\(s\): time_wait, rebind_ok" "$TMP/err"

  : >"$TMP/empty.csv"
  expect_status "summary: empty file exits 2" 2 "$summary" "$TMP/empty.csv"
  test_summary_malformed
  test_summary_settings_from_columns
}

# Settings come from the setting columns, not from the benchmark names: a
# row whose name says nothing of its topology is still told apart by its
# topology column, and the names' spelling (client_ports) is not used.
test_summary_settings_from_columns() {
  local base=$ROOT/results/baseline/20261125T131015Z-vm.csv
  expect_status "summary: kept baseline exits 0" 0 "$ROOT/scripts/summary" "$base"
  expect_grep "summary: client binding from its columns" \
    '^BM_Churn/client_bind:range/client_port_range:20000-20499/budget_connections:5000 +client +8 ' "$TMP/out"
  expect_no_grep "summary: new_reuseaddr following reuseaddr is no setting" 'new_reuseaddr' "$TMP/out"
  python3 - "$base" "$TMP/renamed.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
header = rows[0]
name, topology = header.index("name"), header.index("topology")
for row in rows[1:]:
    if "/closer:rst/conc:64/payload:1024/" in row[name]:
        row[topology] = "veth"  # the name keeps saying loopback
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
EOF
  expect_status "summary: renamed fixture exits 0" 0 "$ROOT/scripts/summary" "$TMP/renamed.csv"
  expect_grep "summary: topology read from its column" '^BM_Churn/topology:veth +rst +64 +1024 ' "$TMP/out"
}

# expect_bad_input NAME FILE: summary exits 2 naming FILE:LINE, no traceback.
expect_bad_input() {
  local name=$1 file=$2
  expect_status "summary: $name exits 2" 2 "$ROOT/scripts/summary" "$file"
  expect_grep "summary: $name names file and line" "${file##*/}:[0-9]+: " "$TMP/err"
  expect_no_grep "summary: $name, no traceback" 'Traceback' "$TMP/err"
}

# Input that used to end in a traceback (exit 1).
test_summary_malformed() {
  local small=$FIXTURES/churn_small.csv
  { head -n 3 "$small"; printf '\x00\x01\xff\xfebinary\n'; } >"$TMP/binary.csv"
  expect_bad_input "binary input" "$TMP/binary.csv"
  { head -n 3 "$small"; sed -n 4p "$small" | cut -d, -f1-30; } >"$TMP/short_row.csv"
  expect_bad_input "a short row" "$TMP/short_row.csv"
  { head -n 3 "$small"; sed -n 4p "$small" | sed 's/,server,/,"server,/'; } >"$TMP/open_quote.csv"
  expect_bad_input "an unclosed quote" "$TMP/open_quote.csv"
  # The file a full disk leaves: cut mid-row.
  head -c 4096 "$ROOT/results/baseline/20261125T131015Z-vm.csv" >"$TMP/cut.csv"
  expect_bad_input "a CSV cut at 4096 bytes" "$TMP/cut.csv"
  { head -n 2 "$small"; printf 'BM_Churn/x,iteration\n'; } >"$TMP/two_fields.csv"
  expect_bad_input "a row of two fields" "$TMP/two_fields.csv"
}

test_help() {
  local script
  for script in scripts/bench scripts/test scripts/summary .ci/run; do
    if [[ -x $ROOT/$script ]]; then
      pass "$script is executable"
    else
      fail "$script is not executable"
    fi
  done
  for script in scripts/bench scripts/test; do
    expect_status "$script --help exits 0" 0 "$ROOT/$script" --help
    expect_grep "$script --help prints usage" "^Usage: $script" "$TMP/out"
  done
}

# A copy of common.sh that user nobody can read wherever the repo lives.
copy_common() {
  mkdir -p "$TMP/lib"
  cp "$ROOT/scripts/lib/common.sh" "$TMP/lib/common.sh"
  chmod 755 "$TMP" "$TMP/lib"
  chmod 644 "$TMP/lib/common.sh"
}

test_package_check_not_root() {
  local name="package check as nobody"
  if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null; then
    skip "$name" "needs root and setpriv"; return
  fi
  if ! command -v dpkg-query >/dev/null; then
    skip "$name" "needs dpkg-query"; return
  fi
  copy_common
  expect_status "$name: exits 2" 2 \
    setpriv --reuid=65534 --regid=65534 --clear-groups \
    env TWBENCH_EXTRA_PACKAGES=twbench-no-such-pkg \
    bash -c 'source "$1" && twbench_ensure_packages' check "$TMP/lib/common.sh"
  expect_grep "$name: prints the apt-get line" \
    '^sudo apt-get update && sudo apt-get install -y --no-install-recommends ([^ ]+ )*twbench-no-such-pkg$' "$TMP/err"
  expect_grep "$name: names the missing package" \
    'missing Debian packages: .*twbench-no-such-pkg' "$TMP/err"
}

# A fake apt-get first on PATH: records its arguments, installs nothing.
fake_apt() {
  mkdir -p "$TMP/fakebin"
  cat >"$TMP/fakebin/apt-get" <<EOF
#!/bin/sh
echo "\$DEBIAN_FRONTEND apt-get \$*" >>"$TMP/apt.log"
EOF
  chmod 755 "$TMP/fakebin/apt-get"
  rm -f "$TMP/apt.log"
}

test_package_check_root() {
  local name="package check as root"
  if [[ $(id -u) != 0 ]] || ! command -v dpkg-query >/dev/null; then
    skip "$name" "needs root and dpkg-query"; return
  fi
  copy_common
  fake_apt
  # The package stays missing (apt-get is fake), so the check ends in 2 after
  # one update and one install.
  expect_status "$name: still missing exits 2" 2 \
    env PATH="$TMP/fakebin:$PATH" TWBENCH_EXTRA_PACKAGES=twbench-no-such-pkg \
    bash -c 'source "$1" && twbench_ensure_packages' check "$TMP/lib/common.sh"
  head -n 1 "$TMP/apt.log" >"$TMP/apt1"
  sed -n 2p "$TMP/apt.log" >"$TMP/apt2"
  expect_grep "$name: apt-get update first" \
    '^noninteractive apt-get update$' "$TMP/apt1"
  expect_grep "$name: then apt-get install" \
    '^noninteractive apt-get install -y --no-install-recommends ([^ ]+ )*twbench-no-such-pkg$' \
    "$TMP/apt2"
  local lines
  lines=$(wc -l <"$TMP/apt.log")
  if [[ $lines == 2 ]]; then pass "$name: apt-get run twice"; else fail "$name: apt-get run $lines times"; fi

  # Fast path: with nothing missing, apt-get is not run at all.
  fake_apt
  if [[ -n $(env PATH="$TMP/fakebin:$PATH" bash -c \
      'source "$1" && twbench_missing_packages' check "$TMP/lib/common.sh") ]]; then
    skip "$name: fast path" "some packages are really missing here"; return
  fi
  expect_status "$name: nothing missing exits 0" 0 \
    env PATH="$TMP/fakebin:$PATH" \
    bash -c 'source "$1" && twbench_ensure_packages' check "$TMP/lib/common.sh"
  if [[ ! -e $TMP/apt.log ]]; then
    pass "$name: nothing missing runs no apt-get"
  else
    fail "$name: nothing missing ran apt-get: $(cat "$TMP/apt.log")"
  fi
}

# The two commands of the README themselves, not only the sourced function:
# as nobody with a package missing they stop before configuring anything.
test_entry_points_not_root() {
  local name script copy="$TMP/repo"
  if [[ $(id -u) != 0 ]] || ! command -v setpriv >/dev/null ||
    ! command -v dpkg-query >/dev/null; then
    skip "entry points as nobody" "needs root, setpriv and dpkg-query"; return
  fi
  mkdir -p "$copy"
  cp -r "$ROOT/scripts" "$copy/scripts"
  chmod -R a+rX "$TMP"
  for script in scripts/bench scripts/test; do
    name="$script as nobody, a package missing"
    expect_status "$name: exits 2" 2 \
      setpriv --reuid=65534 --regid=65534 --clear-groups \
      env TWBENCH_EXTRA_PACKAGES=twbench-no-such-pkg "$copy/$script"
    expect_grep "$name: prints the apt-get line" \
      '^sudo apt-get update && sudo apt-get install -y --no-install-recommends ([^ ]+ )*twbench-no-such-pkg$' "$TMP/err"
    check "$name: configured nothing" test ! -e "$copy/build"
  done
}

test_summary
test_help
test_package_check_not_root
test_package_check_root
test_entry_points_not_root

check_summary
