"""How often scripts/compare calls the same code a regression, and whether it
still catches a real one: comparisons made by resampling real repetition
rows (docs/regression.md, "How the verdict was measured").

    python3 tests/lib/regression_eval.py [--compare=scripts/compare]
        [--repetitions=10] [--pairs=20] [--seed=1] [--setting=closer=server]
        POOL.csv [POOL.csv ...]

A same-code pair: for every benchmark of a pool file, each side gets
--repetitions rows drawn with replacement from that benchmark's iteration
rows (whole rows, so a row's metrics stay together); both sides come from
the same rows, so any verdict but PASS is a false alarm. A regressed pair:
the same, then in the candidate every row whose column has the --setting
value gets conn_per_s x 0.90 (a 10 % drop); a TIME_WAIT pair instead
multiplies time_wait and time_wait_per_conn by 0.90.

compare runs in this process (its main(), loaded from its path), so SciPy
is imported once. Prints one line per scenario: how many of the pairs
exited 0, 1, 2, and which metrics were flagged in the false alarms.
"""

import argparse
import contextlib
import csv
import importlib.machinery
import importlib.util
import io
import os
import random
import sys
import tempfile


def load_compare(path):
    loader = importlib.machinery.SourceFileLoader("compare_under_test", path)
    spec = importlib.util.spec_from_loader("compare_under_test", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def read_pool(path):
    """(header, {name: [row fields]}) of the iteration rows without error."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    col = {c: i for i, c in enumerate(header)}
    pool = {}
    for row in rows[1:]:
        if len(row) != len(header) or row[col["error"]]:
            continue
        if row[col["run_type"]] not in ("", "iteration"):
            continue
        pool.setdefault(row[col["name"]], []).append(row)
    return header, pool


def draw(pool, n, rng):
    return {name: [list(rng.choice(rows)) for _ in range(n)]
            for name, rows in pool.items()}


def scale(side, header, where, metrics, factor):
    """Multiplies metrics by factor in rows whose column has the value."""
    col = {c: i for i, c in enumerate(header)}
    column, value = where
    for rows in side.values():
        for row in rows:
            if row[col[column]] != value:
                continue
            for metric in metrics:
                text = row[col[metric]]
                if text:
                    row[col[metric]] = repr(float(text) * factor)


def write(path, header, side):
    col = {c: i for i, c in enumerate(header)}
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for rows in side.values():
            for k, row in enumerate(rows):
                row = list(row)
                row[col["repetition"]] = str(k)
                w.writerow(row)


def run_compare(module, argv):
    """(status, stdout) of compare's main in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run = getattr(module, "run_main", None)
            status = (run("compare", module.main, argv) if run
                      else module.main(argv))
        except SystemExit as e:
            status = e.code
    return status, out.getvalue()


def flagged(stdout):
    """Metrics of the rows whose verdict fails the comparison."""
    found = []
    for line in stdout.splitlines():
        if line.endswith(("REGRESSION", "BEHAVIOUR CHANGE")):
            parts = line.split()
            found.append(parts[1])
    return found


def evaluate(module, pools, reps, pairs, seed, setting, extra_args=(),
             changed_pairs=None):
    """{scenario: (statuses, flagged metrics of failing pairs)}: pairs
    same-code pairs, changed_pairs (default: pairs) of each change."""
    rng = random.Random(seed)
    results = {}
    scenarios = [("same code", None),
                 (f"conn_per_s -10% where {setting[0]}={setting[1]}",
                  (["conn_per_s"], 0.90)),
                 (f"time_wait -10% where {setting[0]}={setting[1]}",
                  (["time_wait", "time_wait_per_conn"], 0.90))]
    with tempfile.TemporaryDirectory() as tmp:
        for label, change in scenarios:
            statuses, metrics = [], []
            count = pairs if change is None or changed_pairs is None \
                else changed_pairs
            for i in range(count):
                header, pool = pools[i % len(pools)]
                base, cand = draw(pool, reps, rng), draw(pool, reps, rng)
                if change:
                    scale(cand, header, setting, *change)
                a, b = os.path.join(tmp, "a.csv"), os.path.join(tmp, "b.csv")
                write(a, header, base)
                write(b, header, cand)
                status, out = run_compare(module, [a, b, *extra_args])
                statuses.append(status)
                if status != 0:
                    metrics += flagged(out)
            results[label] = (statuses, metrics)
    return results


def main(argv):
    parser = argparse.ArgumentParser(prog="regression_eval")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--compare", default=os.path.join(
        here, "..", "..", "scripts", "compare"))
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--setting", default="closer=server")
    parser.add_argument("pools", nargs="+")
    args, extra = parser.parse_known_args(argv)
    module = load_compare(args.compare)
    pools = [read_pool(p) for p in args.pools]
    setting = tuple(args.setting.split("=", 1))
    results = evaluate(module, pools, args.repetitions, args.pairs,
                       args.seed, setting, extra)
    for label, (statuses, metrics) in results.items():
        counts = {s: statuses.count(s) for s in sorted(set(statuses))}
        tally = {}
        for m in metrics:
            tally[m] = tally.get(m, 0) + 1
        print(f"{label}: {args.repetitions} v {args.repetitions}, "
              f"{len(statuses)} pairs: exit "
              + ", ".join(f"{s}: {n}" for s, n in counts.items())
              + (f"; flagged {tally}" if tally else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
