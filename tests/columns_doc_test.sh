#!/usr/bin/env bash
# Every column the binary writes is documented in results/README.md (a table
# row starting with the column's name in backquotes), and the README's count
# of columns is the header's.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
src="${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
source "$src/tests/lib/check.sh"
readme="$src/results/README.md"

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
