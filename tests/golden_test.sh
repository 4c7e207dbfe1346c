#!/usr/bin/env bash
# The interface regression jobs depend on, against golden files: the default
# matrix's benchmark names, the names of a matrix that sets every matrix
# setting (so the cross product's order and the name rules of the settings
# table stay as they were), and the results CSV's header. A change here is a
# change users' scripts see: update the golden file in the same commit and
# say why.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
src="${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
source "$src/tests/lib/check.sh"
golden="$src/tests/golden"

# Kernels before 6.14 have no tcp_tw_reuse_delay: the default matrix then
# leaves it out of the knob rows' names.
expected_default="$TMP/default_names"
if [[ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ]]; then
  cp "$golden/default_matrix_names.txt" "$expected_default"
else
  sed 's|/tw_reuse_delay:1||' "$golden/default_matrix_names.txt" \
    >"$expected_default"
fi
expect_status "the default matrix lists" 0 "$bin" --benchmark_list_tests=true
check "the default matrix's names are the golden ones" \
  diff -u "$expected_default" "$TMP/out"

read -r -a full <"$golden/full_matrix_flags.txt"
expect_status "a matrix of every matrix setting lists" 0 "$bin" "${full[@]}" \
  --benchmark_list_tests=true
check "its names (and their order) are the golden ones" \
  diff -u "$golden/full_matrix_names.txt" "$TMP/out"

expect_status "a one-connection run writes a CSV" 0 "$bin" --closer=rst \
  --reuseaddr=0 --concurrency=1 --payload=0 --connections=1 \
  --csv="$TMP/one.csv"
check "the CSV header is the golden one" \
  diff -u "$golden/csv_header.txt" <(head -n 1 "$TMP/one.csv")

# The column table is where the header comes from.
expect_status "--list_columns=json" 0 "$bin" --list_columns=json
check "--list_columns=json names the CSV's columns in order" \
  diff -u "$golden/csv_header.txt" <(python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
print(",".join(r["name"] for r in rows if r["group"] != "json_only"))' \
    "$TMP/out")
check_summary
