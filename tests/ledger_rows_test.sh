#!/usr/bin/env bash
# The TIME_WAIT ledger balances in the binary's rows: in isolated rows of the
# default matrix (its port-exhaustion rows included, and the veth rows)
# tcpext_tw = time_wait + recycled + killed + taken over + reset + expired,
# tw_unexplained = 0; the one justified exception is server close with
# reused tuples, where a TIME_WAIT reset and then reused counts twice:
# -tw_reset <= tw_unexplained <= 0 (docs/time-wait-ledger.md).
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
src="${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
source "$src/tests/lib/check.sh"

[[ $(id -u) == 0 ]] || skip_all "needs root for a network namespace per run"
CHECK_TIMEOUT=240 expect_status "the default matrix runs, 2000 connections" 0 \
  "$bin" --connections=2000 --isolate=on --csv="$TMP/rows.csv"
# 20,000 server-close connections wrap the client's ephemeral range: tuples
# are reused and take the server's TIME_WAIT over.
CHECK_TIMEOUT=120 expect_status "server close through reused tuples" 0 \
  "$bin" --connections=20000 --isolate=on --closer=server --reuseaddr=1 \
  --concurrency=64 --payload=0 --csv="$TMP/wrap.csv"
row_checks "$TMP/rows.csv" "$TMP/wrap.csv" <<'PY'
_, all_rows = read_csv(sys.argv[1])
_, wrap = read_csv(sys.argv[2])
rows = [r for r in all_rows if r["name"].startswith("BM_Churn/")]
check("every default-matrix row", len(rows) == 32, f"{len(rows)} rows")
wrap = [r for r in wrap if r["name"].startswith("BM_Churn/")]
check("the wrap row reused tuples",
      len(wrap) == 1 and num(wrap[0], "tuple_reuses") > 0
      and num(wrap[0], "tw_taken_over") == num(wrap[0], "tuple_reuses"))
rows += wrap
for r in rows:
    name = r["name"].replace("/iterations:1/real_time", "")
    check(f"{name}: isolated", r["isolated"] == "1")
    entered = num(r, "tcpext_tw")
    terms = ["time_wait", "tcpext_tw_recycled", "tcpext_tw_killed",
             "tw_taken_over", "tw_reset", "tw_expired", "tw_unexplained"]
    total = sum(num(r, t) for t in terms)
    check(f"{name}: the terms add up to tcpext_tw", total == entered,
          f"{entered} vs {total}")
    unexplained = num(r, "tw_unexplained")
    if r["closer"] == "server" and num(r, "tuple_reuses") > 0:
        check(f"{name}: -tw_reset <= tw_unexplained <= 0",
              -num(r, "tw_reset") <= unexplained <= 0,
              f"unexplained {unexplained}, reset {r['tw_reset']}")
    else:
        check(f"{name}: tw_unexplained = 0", unexplained == 0,
              f"unexplained {unexplained}")
    if r["closer"] == "rst":
        check(f"{name}: an RST close leaves nothing to explain",
              entered == 0 and num(r, "tw_reset") == 0)
PY
check_summary
