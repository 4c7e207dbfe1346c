#!/usr/bin/env bash
# README.md's table of settings is the binary's settings table
# (`twbench --list_settings=markdown`), byte for byte, and every flag of
# `twbench --help` is in it.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
src="${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
source "$src/tests/lib/check.sh"
readme="$src/README.md"

expect_status "--list_settings=markdown" 0 "$bin" --list_settings=markdown
mv "$TMP/out" "$TMP/generated.md"
sed -n '/^<!-- BEGIN twbench --list_settings=markdown/,/^<!-- END twbench --list_settings=markdown/{//!p}' \
  "$readme" >"$TMP/readme.md"
check "README.md's settings table is --list_settings=markdown (regenerate the block between the BEGIN/END markers)" \
  diff -u "$TMP/readme.md" "$TMP/generated.md"

expect_status "--help" 0 "$bin" --help
# The flags of twbench's own part of the help (before the probe's).
mapfile -t flags < <(sed '/^twbench --probe=timewait/q' "$TMP/out" |
  grep -oE '^  --[a-z_]+' | sed 's/^  //' | sort -u)
check "--help lists flags" test "${#flags[@]}" -gt 20
missing=()
for flag in "${flags[@]}"; do
  grep -q "^| \`$flag\` |" "$TMP/generated.md" || missing+=("$flag")
done
check "every flag of --help has a row${missing[*]:+ (missing: ${missing[*]})}" \
  test "${#missing[@]}" -eq 0
check_summary
