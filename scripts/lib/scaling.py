"""A scaling run read as series: connections/s against the number of loops,
one series per closer and accept mode, with the speedup over one loop, the
efficiency (speedup / loops) and the engine / bare-epoll baseline ratio.
scripts/summary --scaling prints it; scripts/plot draws its `loops` chart.

A series holds the BM_Churn rows that differ only in loops, accept,
concurrency and the budget: a scaling run gives every row concurrency C x
loops and budget N x loops (scripts/bench --scaling), so the series key has
the concurrency per loop instead. With one loop accept does not act (twbench
runs that row once, whatever --accept lists), so the one-loop row is the
1.00 of every accept mode of its series.

A row's values are the median over its iteration rows without an error;
with aggregate rows only, the median (else mean) aggregate.
"""

import math
import statistics

from resultfile import BadInput

REQUIRED = ["name", "run_type", "aggregate", "error", "closer", "concurrency",
            "loops", "accept", "conn_per_s"]
# The settings columns (results/README.md, "Settings") and the kernel knobs
# in force (context columns); a column a file lacks is skipped.
SETTING_COLUMNS = [
    "reuseaddr", "reuseport", "closer", "concurrency", "payload", "family",
    "budget_connections", "time_limit_s", "topology", "client_bind",
    "client_port_range", "client_reuseaddr", "restart_every",
    "new_reuseaddr", "restart_max_wait_s", "restart_mode", "loops", "accept",
    "client_addrs", "pin", "tw_reuse", "tw_reuse_delay_ms", "port_range",
    "max_tw_buckets"]
KNOB_COLUMNS = {"tw_reuse", "tw_reuse_delay_ms", "port_range",
                "max_tw_buckets"}
# What changes along a series (concurrency enters the key per loop).
ALONG = {"loops", "accept", "concurrency", "budget_connections",
         "time_limit_s"}
# The bare-epoll baseline's listener has SO_REUSEADDR and SO_REUSEPORT off
# whatever the engine row it stands beside (bench/bm_baseline.cpp).
BASELINE_IGNORES = {"reuseaddr", "reuseport", "new_reuseaddr"}
ACCEPT_ORDER = {"reuseport": 0, "shared": 1}
CLOSER_ORDER = {"server": 0, "rst": 1, "client": 2}
# Segments of a Google Benchmark run name that are not settings.
RUN_SUFFIX_KEYS = {"iterations", "repeats", "threads", "min_time",
                   "min_warmup_time"}
RUN_SUFFIX_WORDS = {"real_time", "manual_time", "process_time"}


def settings_name(name):
    """(function, settings name) of a run name, without the run suffixes:
    BM_Churn/a:1/b:2/iterations:1/real_time -> (BM_Churn, a:1/b:2)."""
    parts = name.split("/")
    keep = [p for p in parts[1:]
            if p not in RUN_SUFFIX_WORDS and
            not (":" in p and p.split(":", 1)[0] in RUN_SUFFIX_KEYS)]
    return parts[0], "/".join(keep)


def number(row, column, where):
    """A numeric cell as float; None when empty, absent or not finite."""
    text = (row.get(column) or "").strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{where}: column {column}: not a number: "
                       f"{text!r}") from None
    return value if math.isfinite(value) else None


def whole(row, column, where):
    value = number(row, column, where)
    if value is None or value < 1 or value != int(value):
        raise BadInput(f"{where}: column {column}: want a whole number from "
                       f"1, got {row.get(column)!r}")
    return int(value)


class Benchmark:
    """The rows of one benchmark (one name): its settings and values."""

    def __init__(self, function, name, row, where):
        self.function = function
        self.name = name
        self.settings = {c: row[c] for c in SETTING_COLUMNS if c in row}
        self.loops = whole(row, "loops", where)
        self.concurrency = whole(row, "concurrency", where)
        self.iterations = []   # (row, where) of the iteration rows
        self.aggregates = {}   # aggregate name -> (row, where)

    def value(self, column):
        """(value, runs): the median over the iteration rows without an
        error; else the median or mean aggregate; (None, 0) when none."""
        values = [number(r, column, w) for r, w in self.iterations
                  if not r["error"]]
        values = [v for v in values if v is not None]
        if values:
            return statistics.median(values), len(values)
        for aggregate in ("median", "mean"):
            if aggregate in self.aggregates:
                row, where = self.aggregates[aggregate]
                value = number(row, column, where)
                if value is not None:
                    return value, number(row, "repetitions", where) or 0
        return None, 0

    def errors(self):
        return sorted({r["error"] for r, _ in self.iterations if r["error"]})

    def series_key(self):
        """The settings a series holds fixed (the concurrency per loop in
        place of the concurrency)."""
        fixed = tuple((c, v) for c, v in self.settings.items()
                      if c not in ALONG)
        per_loop = self.concurrency / self.loops
        return fixed + (("concurrency_per_loop", f"{per_loop:g}"),)

    def same_as_baseline(self, baseline):
        """Whether a BM_Baseline benchmark ran these settings: every setting
        column equal but the reuse ones, and the kernel knobs a baseline
        row leaves empty (not known there)."""
        return all(v == self.settings.get(c) for c, v in
                   baseline.settings.items()
                   if c not in BASELINE_IGNORES and
                   not (c in KNOB_COLUMNS and v == ""))


def read_benchmarks(path, rows):
    """{(function, settings name): Benchmark} of rows [(line, row)] in file
    order; BadInput on a row without loops or concurrency."""
    benchmarks = {}
    for line, row in rows:
        where = f"{path}:{line}"
        function, name = settings_name(row["name"])
        run_type = row["run_type"]
        if run_type not in ("iteration", "aggregate"):
            raise BadInput(f"{where}: run_type {run_type!r} is neither "
                           "'iteration' nor 'aggregate'")
        bench = benchmarks.get((function, name))
        if bench is None:
            bench = Benchmark(function, name, row, where)
            benchmarks[(function, name)] = bench
        if run_type == "iteration":
            bench.iterations.append((row, where))
        else:
            bench.aggregates[row["aggregate"]] = (row, where)
    return benchmarks


class Point:
    """One line of the table: a series at one loop count."""

    def __init__(self, bench, accept, reused):
        self.bench = bench
        self.loops = bench.loops
        self.closer = bench.settings.get("closer", "")
        self.accept = accept
        self.reused = reused   # the one-loop row, shown in another mode
        self.rate, self.runs = bench.value("conn_per_s")
        self.cpu_us, _ = bench.value("cpu_us_per_conn")
        self.time_wait, _ = bench.value("time_wait")
        self.speedup = None
        self.efficiency = None
        self.baseline = None   # the baseline's conn/s
        self.ratio = None      # engine / baseline


class Series:
    def __init__(self, key, accept, points):
        self.key = key
        self.accept = accept
        self.closer = dict(key).get("closer", "")
        self.points = points   # by loops
        self.extra = ""        # the settings that tell it from the others


def baseline_for(bench, baselines):
    """The BM_Baseline benchmark of the same settings: the same settings
    name, else the same setting columns (Benchmark.same_as_baseline)."""
    for b in baselines:
        if b.name == bench.name:
            return b
    for b in baselines:
        if bench.same_as_baseline(b):
            return b
    return None


def fill(series, baselines):
    one = series.points[0] if series.points[0].loops == 1 else None
    base_rate = one.rate if one else None
    for p in series.points:
        if base_rate and p.rate is not None:
            p.speedup = p.rate / base_rate
            p.efficiency = p.speedup / p.loops
        b = baseline_for(p.bench, baselines)
        if b is not None:
            p.baseline, _ = b.value("conn_per_s")
            if p.baseline and p.rate is not None:
                p.ratio = p.rate / p.baseline


def mark_extra(all_series):
    """Series.extra: column=value of every fixed setting that is not the
    same in all series, the closer aside (a column of its own)."""
    keys = [dict(s.key) for s in all_series]
    columns = [c for c in (keys[0] if keys else {})
               if c != "closer" and len({k.get(c) for k in keys}) > 1]
    for s, k in zip(all_series, keys):
        s.extra = " ".join(f"{c}={k.get(c)}" for c in columns)


def build(path, rows):
    """[Series] of the BM_Churn rows, ordered by closer, the other settings,
    then accept mode; and the points of each by loops."""
    benchmarks = read_benchmarks(path, rows)
    engine = [b for b in benchmarks.values() if b.function == "BM_Churn"]
    baselines = [b for b in benchmarks.values()
                 if b.function == "BM_Baseline"]
    groups = {}
    for b in engine:
        groups.setdefault(b.series_key(), []).append(b)
    out = []
    for key, members in groups.items():
        ones = [b for b in members if b.loops == 1]
        modes = sorted({b.settings.get("accept", "") for b in members
                        if b.loops > 1} or
                       {b.settings.get("accept", "") for b in ones},
                       key=lambda a: (ACCEPT_ORDER.get(a, 9), a))
        for accept in modes:
            points = [Point(b, accept, b.settings.get("accept") != accept)
                      for b in ones[:1]]
            points += [Point(b, accept, False) for b in
                       sorted((b for b in members if b.loops > 1 and
                               b.settings.get("accept", "") == accept),
                              key=lambda b: b.loops)]
            series = Series(key, accept, points)
            fill(series, baselines)
            out.append(series)
    mark_extra(out)
    out.sort(key=lambda s: (CLOSER_ORDER.get(s.closer, 9), s.closer,
                            s.extra, ACCEPT_ORDER.get(s.accept, 9),
                            s.accept))
    return out
