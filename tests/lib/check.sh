# shellcheck shell=bash
# What every shell test (tests/*_test.sh) shares: a scratch directory $TMP
# removed on exit, PASS/FAIL/SKIP lines with their counts, the common checks,
# and the summary whose status is the test's. Sourced after `set -uo pipefail`.
#
# Exit status: 1 when a check failed; else 77 when a part was skipped (not
# root, no setpriv, no binary...), which ctest reports as "Skipped"
# (SKIP_RETURN_CODE 77 in CMakeLists.txt) so that a test that did not run
# in full never shows as passed; else 0.

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0
skipped=0

pass() { passed=$((passed + 1)); printf 'PASS %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; }
skip() { skipped=$((skipped + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

# check NAME CMD...: passes when CMD succeeds.
check() {
  local name=$1
  shift
  if "$@"; then pass "$name"; else fail "$name"; fi
}

# expect_status NAME STATUS CMD...: runs CMD, bounded by CHECK_TIMEOUT
# seconds (default 120), its output in $TMP/out and $TMP/err, and checks its
# exit status; on a mismatch shows the end of its stderr.
expect_status() {
  local name=$1 want=$2 got=0
  shift 2
  timeout "${CHECK_TIMEOUT:-120}" "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  if [[ $got == "$want" ]]; then
    pass "$name"
  else
    fail "$name (exit $got, want $want)"
    sed 's/^/  stderr: /' "$TMP/err" | tail -n 20
  fi
}

# expect_grep NAME EXTENDED_REGEX FILE: some line of FILE matches.
expect_grep() {
  if grep -Eq -- "$2" "$3"; then
    pass "$1"
  else
    fail "$1 (no line matching '$2' in ${3##*/})"
    sed 's/^/  /' "$3" | head -n 20
  fi
}

# expect_no_grep NAME EXTENDED_REGEX FILE: no line of FILE matches.
expect_no_grep() {
  if grep -Eq -- "$2" "$3"; then
    fail "$1 (a line matches '$2' in ${3##*/})"
  else
    pass "$1"
  fi
}

# row_checks ARGS... <<'PY' ... PY: runs the Python on stdin after the
# prelude tests/lib/rows.py (check(), read_csv(), num()), with ARGS as
# sys.argv[1:], and adds its checks to this test's counts; a Python that
# dies before its end is a failure.
row_checks() {
  local lib
  lib=$(dirname "${BASH_SOURCE[0]}")
  { cat "$lib/rows.py"; cat; printf '\nfinish()\n'; } >"$TMP/row_checks.py"
  python3 "$TMP/row_checks.py" "$@" >"$TMP/row_checks.out" 2>&1
  local last n_pass n_fail
  last=$(tail -n 1 "$TMP/row_checks.out")
  if [[ $last =~ ^([0-9]+)\ ([0-9]+)$ ]]; then
    sed '$d' "$TMP/row_checks.out"
    n_pass=${BASH_REMATCH[1]}
    n_fail=${BASH_REMATCH[2]}
    passed=$((passed + n_pass))
    failed=$((failed + n_fail))
  else
    sed 's/^/  /' "$TMP/row_checks.out" | tail -n 20
    fail "row checks did not finish"
  fi
}

# skip_all REASON: the whole test cannot run here; says why and exits 77.
skip_all() {
  skip "all" "$1"
  check_summary
  exit
}

# check_summary: the counts, and the test's exit status: 1 if any check
# failed, 77 if none failed but some part was skipped, 0 otherwise.
check_summary() {
  printf '%d passed, %d failed' "$passed" "$failed"
  ((skipped == 0)) || printf ', %d skipped' "$skipped"
  printf '\n'
  if ((failed > 0)); then return 1; fi
  if ((skipped > 0)); then return 77; fi
  return 0
}
