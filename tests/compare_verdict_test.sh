#!/usr/bin/env bash
# The verdict of scripts/compare on same-code comparisons and on real
# changes (issue 12.9, docs/regression.md "How the verdict was measured"):
# pairs resampled from the 5 real repetitions of every row of the kept
# baseline (tests/fixtures/compare/repetitions_pool.csv, its iteration rows),
# 10 a side as the regression command runs them. Same code: at least 19 of
# 20 pairs PASS. conn_per_s 10 % lower in every closer=server row, or
# time_wait 10 % lower there: every pair FAILs, on that metric. Fixed seed,
# so the same pairs every run. Run by ctest (script.compare_verdict_test).
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"

if ! /usr/bin/python3 -c 'import scipy.stats' 2>/dev/null; then
  skip_all "python3-scipy is not installed (scripts/test installs it as root)"
fi

# Debian's interpreter: python3-scipy is installed for it (another python3
# may come first in PATH).
mkdir -p "$TMP/bin" && ln -s /usr/bin/python3 "$TMP/bin/python3"
PATH="$TMP/bin:$PATH" row_checks "$ROOT" <<'PY'
import os
root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "tests", "lib"))
import regression_eval as ev

module = ev.load_compare(os.path.join(root, "scripts", "compare"))
pool = ev.read_pool(os.path.join(root, "tests", "fixtures", "compare",
                                 "repetitions_pool.csv"))
results = ev.evaluate(module, [pool], reps=10, pairs=20, seed=1,
                      setting=("closer", "server"), changed_pairs=5)
same, drop, tw = results.values()
passed = same[0].count(0)
check(f"same code: {passed} of 20 pairs PASS (want >= 19)", passed >= 19,
      f"exits {same[0]}, flagged {same[1]}")
check("same code: no bad input", 2 not in same[0], f"exits {same[0]}")
check("conn_per_s -10% in every closer=server row: every pair FAILs",
      drop[0] == [1] * 5, f"exits {drop[0]}")
check("conn_per_s -10%: flagged on conn_per_s", "conn_per_s" in drop[1],
      f"flagged {drop[1]}")
check("time_wait -10% in every closer=server row: every pair FAILs",
      tw[0] == [1] * 5, f"exits {tw[0]}")
check("time_wait -10%: flagged on time_wait", "time_wait" in tw[1],
      f"flagged {tw[1]}")
PY

check_summary
