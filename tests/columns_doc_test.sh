#!/usr/bin/env bash
# results/README.md's column tables are the binary's column table
# (`twbench --list_columns=markdown`), byte for byte; every column the binary
# writes has a row there, and the README's count of columns is the header's.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
src="${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
source "$src/tests/lib/check.sh"
readme="$src/results/README.md"

expect_status "--list_columns=markdown" 0 "$bin" --list_columns=markdown
mv "$TMP/out" "$TMP/generated.md"
sed -n '/^<!-- BEGIN twbench --list_columns=markdown/,/^<!-- END twbench --list_columns=markdown/{//!p}' \
  "$readme" >"$TMP/readme.md"
check "results/README.md's column tables are --list_columns=markdown (regenerate the block between the BEGIN/END markers)" \
  diff -u "$TMP/readme.md" "$TMP/generated.md"

# One RST run of one connection: the header is the same for every run.
expect_status "a one-connection run writes a CSV" 0 "$bin" --closer=rst \
  --reuseaddr=0 --concurrency=1 --payload=0 --connections=1 \
  --csv="$TMP/one.csv"
IFS=, read -r -a columns <"$TMP/one.csv"
check "the header has columns" test "${#columns[@]}" -gt 20
missing=()
for column in "${columns[@]}"; do
  grep -q "^| \`$column\` |" "$readme" || missing+=("$column")
done
check "every column has a row in results/README.md${missing[*]:+ (missing: ${missing[*]})}" \
  test "${#missing[@]}" -eq 0
expect_grep "results/README.md says ${#columns[@]} columns in all" \
  "The columns come in this order \\(${#columns[@]} in all\\)" "$readme"
check_summary
