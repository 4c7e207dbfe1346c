"""Mutants of real result files for tests/script_fuzz_test.sh: truncations,
byte flips and column drops of results/baseline/* and tests/fixtures/*, fed
to scripts/compare, summary and plot in this process (their run_main(), so
SciPy is imported once and no gnuplot process is needed per case beyond a
fake one). Deterministic: one seeded random.Random.
"""

import contextlib
import csv
import importlib.machinery
import importlib.util
import io
import json
import os
import random

# Bytes a flip writes: the ones CSV, JSON and number parsing care about,
# and binary.
FLIP_BYTES = b'\x00\xff\xfe",\n\r{}[]:-.e09aZ \t\\'


def load_script(path, name):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def truncate(data, rng):
    if rng.random() < 0.2:
        return data[:4096]  # what a full disk leaves
    return data[:rng.randrange(0, len(data))]


def flip(data, rng):
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(out))
        out[i] = rng.choice(FLIP_BYTES) if rng.random() < 0.8 \
            else rng.randrange(256)
    return bytes(out)


def drop_column(data, rng):
    """A CSV without one column (every row, or the header only); a JSON
    without one key in every benchmark entry (or in one)."""
    text = data.decode("utf-8")
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        entries = doc.get("benchmarks", [])
        keys = sorted({k for e in entries for k in e})
        if not keys:
            return data
        key = rng.choice(keys)
        chosen = entries if rng.random() < 0.7 else [rng.choice(entries)]
        for entry in chosen:
            entry.pop(key, None)
        return json.dumps(doc, indent=2).encode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or not rows[0]:
        return data
    col = rng.randrange(len(rows[0]))
    header_only = rng.random() < 0.2
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    for k, row in enumerate(rows):
        if (k == 0 or not header_only) and col < len(row):
            row = row[:col] + row[col + 1:]
        w.writerow(row)
    return out.getvalue().encode()


MUTATIONS = [("truncated", truncate), ("flipped", flip),
             ("column dropped", drop_column)]


def mutants(sources, count, rng):
    """count (label, bytes) mutants, cycling through sources and mutations."""
    data = {p: open(p, "rb").read() for p in sources}
    for i in range(count):
        path = sources[i % len(sources)]
        what, mutate = MUTATIONS[(i // len(sources)) % len(MUTATIONS)]
        yield f"{os.path.basename(path)} {what} #{i}", path, \
            mutate(data[path], rng)


def run(module, prog, argv):
    """(status, stderr) of the script's run_main in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            if hasattr(module, "run_main"):
                status = module.run_main(prog, module.main, argv)
            else:  # a script from before run_main: what escapes is a traceback
                status = module.main(argv)
        except SystemExit as e:
            status = e.code
        except Exception as e:  # noqa: BLE001
            print(f"Traceback (escaped): {type(e).__name__}: {e}",
                  file=err)
            status = 1
    return status, err.getvalue()
