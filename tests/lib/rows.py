# Prelude of the row checks of the shell tests (row_checks in check.sh):
# the Python after it reads result CSVs by column name and calls check();
# each check prints PASS/FAIL NAME, and the last line, "<passed> <failed>",
# is added to the shell test's counts.
import csv
import sys

_results = []


def check(name, ok, detail=""):
    """One assertion: PASS NAME, or FAIL NAME (DETAIL)."""
    _results.append(bool(ok))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f" ({detail})"))


def read_csv(path):
    """The header and the rows (dicts by column name) of a CSV file."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return reader.fieldnames or [], rows


def num(row, column):
    return float(row[column])


def finish():
    print(f"{_results.count(True)} {_results.count(False)}")
    sys.exit(0)
