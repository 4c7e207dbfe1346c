#!/usr/bin/env bash
# Tests of scripts/bench's own options: --repetitions, --compare, --plot.
# Bad values exit 2 before anything is built (a cmake first on PATH records
# whether it was called). Then two real runs of the twbench binary
# (TWBENCH_BINARY) in a copy of the scripts, one benchmark each: the
# repetitions and their aggregates are rows, --plot draws, --compare prints
# compare's table and bench exits with compare's status (0 against the first
# run, 1 against a copy of it whose TIME_WAIT count was changed).
# Run by ctest (script.bench_flags_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FIXTURES=$ROOT/tests/fixtures
source "$ROOT/tests/lib/check.sh"

# The copy of the scripts, the recording cmake, BENCH and expect_bad.
source "$ROOT/tests/lib/fake_bench.sh"

test_bad_flags() {
  expect_bad "--repetitions=0" "--repetitions=0: want a positive integer" \
    --repetitions=0
  expect_bad "--repetitions=abc" "--repetitions=abc: want a positive integer" \
    --repetitions=abc
  expect_bad "--repetitions=-3" "want a positive integer" --repetitions=-3
  expect_bad "--repetitions=2.5" "want a positive integer" --repetitions=2.5
  expect_bad "--repetitions=" "want a positive integer" --repetitions=
  expect_bad "--repetitions without =" "--repetitions needs a value" \
    --repetitions 3
  expect_bad "--repetitions and --benchmark_repetitions" "give one of them" \
    --repetitions=2 -- --benchmark_repetitions=3
  expect_bad "--compare=missing file" "no-such.csv: no such readable file" \
    --compare="$TMP/no-such.csv"
  expect_bad "--compare= empty" "--compare= needs a file" --compare=
  expect_bad "--compare without =" "--compare needs a file" --compare x.csv
  expect_bad "--compare=malformed baseline" "malformed.csv:[0-9]+: " \
    --compare="$FIXTURES/compare/malformed.csv"

  expect_status "--help exits 0" 0 "${BENCH[@]}" --help
  expect_grep "--help documents --repetitions" "^  --repetitions=N" "$TMP/out"
  expect_grep "--help documents --compare" "^  --compare=BASELINE.csv" "$TMP/out"
  expect_grep "--help documents --plot" "^  --plot " "$TMP/out"
}

# One benchmark, small: closer=rst leaves no TIME_WAIT and no rebind
# failure, so two runs agree on every behaviour count.
RUN_ARGS=(-- --reuseaddr=1 --closer=rst --concurrency=4 --payload=0
  --connections=400 --time_limit=20 --benchmark_filter=BM_Churn)

test_real_runs() {
  local binary=${TWBENCH_BINARY:-}
  if [[ -z $binary || ! -x $binary ]]; then
    skip "real runs" "TWBENCH_BINARY is not set to the twbench binary"
    return
  fi
  if ! command -v gnuplot >/dev/null; then
    skip "real runs" "gnuplot is not installed (gnuplot-nox)"
    return
  fi
  ln -s "$binary" "$BENCH_ROOT/build/release/twbench"
  rm -f "$TMP/cmake.log"
  expect_status "run with --repetitions=2 --plot exits 0" 0 \
    "${BENCH[@]}" --repetitions=2 --plot "${RUN_ARGS[@]}"
  local first
  first=$(sed -n 's/^CSV: //p' "$TMP/out")
  if [[ -n $first && -s $first ]]; then pass "prints the CSV path"; else
    fail "no CSV path printed"; return; fi
  expect_grep "the build ran (fake cmake)" "^cmake --build " "$TMP/cmake.log"
  local kinds
  kinds=$(python3 - "$first" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(" ".join(r["run_type"] + ":" + (r["aggregate"] or r["repetition"]) + ":"
               + r["repetitions"] for r in rows))
EOF
  )
  if [[ $kinds == "iteration:0:2 iteration:1:2 aggregate:mean:2 aggregate:median:2 aggregate:stddev:2 aggregate:cv:2" ]]; then
    pass "--repetitions=2: two repetition rows and four aggregate rows"
  else
    fail "--repetitions=2: rows are '$kinds'"
  fi
  local stem=${first%.csv} chart
  for chart in conn_per_s bind_failures; do
    expect_grep "--plot prints $chart.png" "^$stem\.$chart\.png\$" "$TMP/out"
    if [[ -s $stem.$chart.png && -s $stem.$chart.svg ]]; then
      pass "--plot wrote $chart.png and .svg"
    else
      fail "--plot did not write $chart.png and .svg"
    fi
  done

  expect_status "--compare with the first run exits 0" 0 \
    "${BENCH[@]}" --repetitions=2 --compare="$first" "${RUN_ARGS[@]}"
  expect_grep "--compare prints the table" "^name +metric +n +baseline" "$TMP/out"
  expect_grep "--compare prints the verdict" "^PASS: 1 benchmark compared" \
    "$TMP/out"

  # The same run with one more TIME_WAIT socket in every row: a behaviour
  # change, so compare and bench exit 1.
  python3 - "$first" "$TMP/changed.csv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.reader(f))
col = rows[0].index("time_wait")
for row in rows[1:]:
    row[col] = str(float(row[col]) + 1)
with open(sys.argv[2], "w", newline="") as f:
    csv.writer(f, lineterminator="\n").writerows(rows)
EOF
  expect_status "--compare with a changed TIME_WAIT exits 1" 1 \
    "${BENCH[@]}" --repetitions=2 --compare="$TMP/changed.csv" "${RUN_ARGS[@]}"
  expect_grep "--compare marks the behaviour change" \
    "time_wait .*BEHAVIOUR CHANGE" "$TMP/out"
}

# The regression command's repetitions: --compare alone runs 10 (what
# compare needs to flag one benchmark, docs/regression.md); --repetitions or
# twbench's own --benchmark_repetitions win. A fake twbench records its
# arguments and writes a fixture CSV, so nothing is measured.
test_compare_default_repetitions() {
  local root=$TMP/root_fake fixture=$FIXTURES/compare/baseline.csv
  mkdir -p "$root/build/release"
  cp -r "$ROOT/scripts" "$root/scripts"
  cat >"$root/build/release/twbench" <<EOF
#!/bin/sh
echo "\$*" >"$TMP/twbench.args"
for arg; do
  case \$arg in --csv=*) cp "$fixture" "\${arg#--csv=}" ;; esac
done
EOF
  chmod 755 "$root/build/release/twbench"
  local -a bench=(env PATH="$TMP/fakebin:$PATH" TWBENCH_SKIP_PACKAGE_CHECK=1
    "$root/scripts/bench")
  expect_status "--compare alone exits 0" 0 "${bench[@]}" --compare="$fixture"
  expect_grep "--compare alone: 10 repetitions" \
    ' --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true' "$TMP/twbench.args"
  expect_status "--compare --repetitions=6 exits 0" 0 "${bench[@]}" \
    --compare="$fixture" --repetitions=6
  expect_grep "--repetitions=6 wins" ' --benchmark_repetitions=6 ' "$TMP/twbench.args"
  expect_status "--compare with --benchmark_repetitions exits 0" 0 \
    "${bench[@]}" --compare="$fixture" -- --benchmark_repetitions=4
  expect_grep "--benchmark_repetitions=4 kept" ' --benchmark_repetitions=4' "$TMP/twbench.args"
  expect_no_grep "--benchmark_repetitions=4: no 10" 'repetitions=10' "$TMP/twbench.args"
  expect_status "no --compare exits 0" 0 "${bench[@]}"
  expect_no_grep "no --compare: no repetitions added" 'benchmark_repetitions' "$TMP/twbench.args"
}

test_bad_flags
test_compare_default_repetitions
test_real_runs

check_summary
