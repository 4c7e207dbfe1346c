#!/usr/bin/env bash
# scripts/compare keeps its own metric table (a regression job must work
# without the binary); this test holds it to the binary's column table
# (issue 9.2): `twbench --list_columns=json` against
# `scripts/compare --list-metrics=json`. For every counter the binary marks
# comparable (compare: higher, lower or behaviour) compare knows it with the
# same direction; every metric compare knows is a column of the binary; both
# compare the same metrics by default. Skipped (77) without a binary or when
# the binary does not know --list_columns yet (exit 2).
# Run by ctest (script.compare_columns_test) or by hand.
set -uo pipefail

ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"

BINARY=${TWBENCH_BINARY:-$ROOT/build/test/twbench}
if [[ ! -x $BINARY ]]; then
  skip_all "no twbench binary at $BINARY (set TWBENCH_BINARY or build first)"
fi
status=0
(cd "$TMP" && timeout 60 "$BINARY" --list_columns=json) >"$TMP/columns.json" \
  2>"$TMP/columns.err" || status=$?
if ((status == 2)); then
  skip_all "$BINARY does not know --list_columns=json yet (exit 2)"
fi
check "twbench --list_columns=json exits 0" test "$status" = 0
expect_status "compare --list-metrics=json exits 0" 0 \
  "$ROOT/scripts/compare" --list-metrics=json
cp "$TMP/out" "$TMP/metrics.json"

row_checks "$TMP/columns.json" "$TMP/metrics.json" <<'PY'
import json
try:
    columns = json.load(open(sys.argv[1]))
    metrics = json.load(open(sys.argv[2]))
except ValueError as e:
    check("both tables are JSON", False, str(e))
    finish()
fields = {"name": str, "group": str, "unit": str, "compare": str,
          "default_compared": bool, "help": str}
shape = [c for c in columns if not isinstance(c, dict) or any(
    not isinstance(c.get(f), t) for f, t in fields.items())]
check("every column has name, group, unit, compare, default_compared, help",
      isinstance(columns, list) and not shape, f"{shape[:3]}")
# (Groups other than counter are the binary's business: only "counter"
# matters here.)
directions = {"higher", "lower", "behaviour", ""}
odd = [c["name"] for c in columns if c["compare"] not in directions]
check("compare values are higher, lower, behaviour or empty", not odd,
      f"{odd}")

table = {c["name"]: c for c in columns}
known = {m["name"]: m for m in metrics}
comparable = [c for c in columns if c["group"] == "counter" and c["compare"]]
unknown = [c["name"] for c in comparable if c["name"] not in known]
check(f"compare knows all {len(comparable)} comparable counters", not unknown,
      f"not in compare: {unknown}")
differ = [f"{c['name']}: binary {c['compare']}, compare "
          f"{known[c['name']]['direction']}" for c in comparable
          if c["name"] in known and known[c["name"]]["direction"] != c["compare"]]
check("the same direction for every comparable counter", not differ,
      "; ".join(differ))
stray = [m for m in known if m not in table]
check(f"every metric compare knows ({len(known)}) is a column", not stray,
      f"not a column: {stray}")
uncomparable = [m for m in known if m in table and table[m]["group"] ==
                "counter" and not table[m]["compare"]]
check("compare knows no counter the binary calls not comparable",
      not uncomparable, f"{uncomparable}")
theirs = {c["name"] for c in columns if c["default_compared"]}
ours = {m for m, v in known.items() if v["default_compared"]}
check("the same metrics compared by default", theirs == ours,
      f"binary only: {sorted(theirs - ours)}, compare only: "
      f"{sorted(ours - theirs)}")
PY

check_summary
