#!/usr/bin/env bash
# Fuzz of scripts/compare, summary and plot (issue 12.5): a few hundred
# truncations, byte flips and column drops of real result files
# (results/baseline/*, tests/fixtures/*), each run through the script. Every
# run must exit 0 or 2 (compare of a mutant with its original also 1: a
# flipped number may be a real change), never 3 (an unexpected exception)
# and never print a traceback. A fixed seed makes the same mutants every
# run; plot draws with a fake gnuplot that only touches its outputs.
# Run by ctest (script.script_fuzz_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"

if ! /usr/bin/python3 -c 'import scipy.stats' 2>/dev/null; then
  skip_all "python3-scipy is not installed (scripts/test installs it as root)"
fi

# Debian's interpreter first (python3-scipy is installed for it), and a
# gnuplot that writes a byte to every 'set output' file of its script.
mkdir -p "$TMP/bin"
ln -s /usr/bin/python3 "$TMP/bin/python3"
cat >"$TMP/bin/gnuplot" <<'SH'
#!/bin/sh
sed -n 's/^set output "\(.*\)"$/\1/p' "$1" | while read -r f; do echo x >"$f"; done
SH
chmod 755 "$TMP/bin/gnuplot"

start=$SECONDS
PATH="$TMP/bin:$PATH" TWBENCH_SKIP_PACKAGE_CHECK=1 row_checks "$ROOT" "$TMP" <<'PY'
import os
import random
root, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "lib"))
import script_fuzz as fz

scripts = os.path.join(root, "scripts")
compare = fz.load_script(os.path.join(scripts, "compare"), "fz_compare")
summary = fz.load_script(os.path.join(scripts, "summary"), "fz_summary")
plot = fz.load_script(os.path.join(scripts, "plot"), "fz_plot")
base = os.path.join(root, "results", "baseline", "20261125T131015Z-vm")
fixtures = os.path.join(root, "tests", "fixtures")
cmp_fx = os.path.join(fixtures, "compare")
rng = random.Random(20261127)
bad = []
seen = {}


def judge(label, status, err, allowed=(0, 2)):
    seen[status] = seen.get(status, 0) + 1
    if status not in allowed or "Traceback" in err or "internal error" in err:
        bad.append(f"{label}: exit {status}: {err.strip()[-300:]}")


def write(data, name):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# compare: the small fixtures (CSV and JSON) and the kept baseline's JSON;
# a mutant against itself (identical input must never be exit 1) and
# against its original, by turns on either side.
sources = [os.path.join(cmp_fx, f) for f in
           ("baseline.csv", "regressed.csv", "baseline.json",
            "regressed_aggregates.json")] + [base + ".json"]
n = 0
for label, orig, data in fz.mutants(sources, 100, rng):
    ext = os.path.splitext(orig)[1]
    path = write(data, "mutant" + ext)
    status, err = fz.run(compare, "compare", [path, path])
    judge("compare self " + label, status, err)
    pair = [orig, path] if n % 2 else [path, orig]
    status, err = fz.run(compare, "compare", pair)
    judge("compare pair " + label, status, err, (0, 1, 2))
    n += 2
# The kept baseline's CSV, one metric (the whole default set is slow).
for label, orig, data in fz.mutants([base + ".csv"], 20, rng):
    path = write(data, "mutant.csv")
    status, err = fz.run(compare, "compare",
                         [orig, path, "--metrics=conn_per_s,time_wait"])
    judge("compare baseline " + label, status, err, (0, 1, 2))
    n += 1
check(f"compare: {n} runs on mutants (exits {sorted(seen.items())}), "
      "0/1/2 as allowed, no traceback", not bad, "; ".join(bad[:5]))

bad.clear()
seen.clear()
sources = [base + ".csv"] + [os.path.join(fixtures, f) for f in
                             ("churn_small.csv", "churn_repetitions.csv",
                              "speed_baseline.csv")]
count = 0
for label, orig, data in fz.mutants(sources, 150, rng):
    status, err = fz.run(summary, "summary", [write(data, "mutant.csv")])
    judge("summary " + label, status, err)
    count += 1
check(f"summary: {count} mutants (exits {sorted(seen.items())}), exit 0 "
      "or 2, no traceback", not bad, "; ".join(bad[:5]))

bad.clear()
seen.clear()
count = 0
scaling = os.path.join(fixtures, "scaling_small.csv")
for label, orig, data in fz.mutants([scaling], 60, rng):
    status, err = fz.run(summary, "summary",
                         ["--scaling", write(data, "mutant.csv")])
    judge("summary --scaling " + label, status, err)
    count += 1
check(f"summary --scaling: {count} mutants (exits {sorted(seen.items())}), "
      "exit 0 or 2, no traceback", not bad, "; ".join(bad[:5]))

bad.clear()
seen.clear()
sources = [base + ".csv", os.path.join(fixtures, "churn_repetitions.csv"),
           os.path.join(fixtures, "churn_repetitions.timeseries.csv"),
           os.path.join(fixtures, "scaling_small.csv")]
count = 0
for label, orig, data in fz.mutants(sources, 80, rng):
    if orig.endswith(".timeseries.csv"):
        results = os.path.join(fixtures, "churn_repetitions.csv")
        argv = [results, "--timeseries=" + write(data, "mutant.ts.csv")]
    else:
        argv = [write(data, "mutant.csv")]  # no mutant.timeseries.csv
    status, err = fz.run(plot, "plot", argv + ["--out=" + tmp + "/plots"])
    judge("plot " + label, status, err)
    count += 1
check(f"plot: {count} mutants (exits {sorted(seen.items())}), exit 0 or 2, "
      "no traceback", not bad, "; ".join(bad[:5]))
PY
printf 'fuzz took %d s\n' $((SECONDS - start))

check_summary
