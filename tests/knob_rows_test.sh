#!/usr/bin/env bash
# The kernel knobs as the binary's rows show them (root: each run in its own
# network namespace):
#  - --max_tw_buckets=0: no TIME_WAIT is kept, whichever side closes; every
#    close overflows (tcpext_tw_overflow == connections) and the rebind is
#    free even without SO_REUSEADDR;
#  - the control for topology_churn_test: over veth, tcp_tw_reuse=1 does
#    recycle TIME_WAIT ports (and the veth rows' TcpExt counters are read),
#    so it is the loopback-only rule of tcp_tw_reuse=2 that stops it there;
#  - --isolate=off with a knob leaves the host's sysctls as they were.
# Run by ctest (script.knob_rows_test) or by hand.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"
if [[ $(id -u) -ne 0 ]]; then
  skip_all "per-namespace sysctls and veth need root (CAP_SYS_ADMIN)"
fi
if ! command -v taskset >/dev/null; then
  skip_all "needs taskset (util-linux) to run on one CPU"
fi
CHECK_TIMEOUT=120
cpu=$(python3 -c 'import os; print(min(os.sched_getaffinity(0)))')

test_max_tw_buckets() {
  expect_status "max_tw_buckets=0: runs exit 0" 0 \
    "$bin" --max_tw_buckets=0 --closer=server,client --reuseaddr=0 \
    --concurrency=64 --payload=0 --family=ipv4 --connections=500 \
    --isolate=on --csv="$TMP/buckets.csv"
  row_checks "$TMP/buckets.csv" <<'PY'
_, rows = read_csv(sys.argv[1])
check("max_tw_buckets=0: a row per closer",
      sorted(r["closer"] for r in rows) == ["client", "server"],
      [r["closer"] for r in rows])
for r in rows:
    tag = f"max_tw_buckets=0 closer={r['closer']}"
    check(f"{tag}: isolated, no error, 500 connections",
          r["error"] == "" and r["isolated"] == "1" and
          num(r, "connections") == 500,
          (r["error"], r["isolated"], r["connections"]))
    check(f"{tag}: max_tw_buckets column is 0", r["max_tw_buckets"] == "0",
          r["max_tw_buckets"])
    check(f"{tag}: time_wait == 0 and sockstat_tw == 0",
          num(r, "time_wait") == 0 and num(r, "sockstat_tw") == 0,
          (r["time_wait"], r["sockstat_tw"]))
    check(f"{tag}: every close overflowed (tcpext_tw_overflow == "
          "connections), none entered TIME_WAIT",
          num(r, "tcpext_tw_overflow") == num(r, "connections") and
          num(r, "tcpext_tw") == 0,
          (r["tcpext_tw_overflow"], r["tcpext_tw"]))
    if r["closer"] == "server":
        # Without SO_REUSEADDR the rebind fails only on a TIME_WAIT.
        check(f"{tag}: no TIME_WAIT, so the rebind binds without "
              "SO_REUSEADDR", r["rebind_ok"] == "1", r["label"])
PY
}

# The flags of topology_churn_test (client-side close through a 1000-port
# range, 3000 connections), over veth, tcp_tw_reuse 1 and 2 side by side.
test_veth_tw_reuse() {
  local delay=()
  [[ -e /proc/sys/net/ipv4/tcp_tw_reuse_delay ]] && delay=(--tw_reuse_delay=1)
  # On one CPU, as csv_rows_test says why: no TIME_WAIT is lost to a RST,
  # so the TIME_WAIT counts add up exactly.
  expect_status "veth tw_reuse=1,2: runs on CPU $cpu exit 0" 0 \
    taskset -c "$cpu" "$bin" --topology=veth --closer=client --reuseaddr=1 \
    --concurrency=64 --payload=0 --tw_reuse=1,2 "${delay[@]}" \
    --port_range=40000-40999 \
    --connections=3000 --isolate=on --csv="$TMP/veth.csv"
  row_checks "$TMP/veth.csv" <<'PY'
_, rows = read_csv(sys.argv[1])
by_reuse = {r["tw_reuse"]: r for r in rows}
check("veth: a row for tw_reuse 1 and 2", len(rows) == 2 and
      set(by_reuse) == {"1", "2"}, [r["tw_reuse"] for r in rows])
for r in rows:
    tag = f"veth tw_reuse={r['tw_reuse']}"
    check(f"{tag}: isolated, no error, the knobs read back",
          r["error"] == "" and r["isolated"] == "1" and
          r["topology"] == "veth" and r["port_range"] == "40000-40999",
          [r[c] for c in ("error", "isolated", "topology", "port_range")])
    check(f"{tag}: tcpext_tw > 0 (veth TcpExt counters are read)",
          num(r, "tcpext_tw") > 0, r["tcpext_tw"])
r = by_reuse.get("1")
if r:
    check("veth tw_reuse=1: TIME_WAIT recycled (tcpext_tw_recycled > 0)",
          num(r, "tcpext_tw_recycled") > 0, r["tcpext_tw_recycled"])
    check("veth tw_reuse=1: the ports never ran out, all 3000 completed",
          num(r, "eaddrnotavail") == 0 and num(r, "connections") == 3000,
          (r["eaddrnotavail"], r["connections"]))
    check("veth tw_reuse=1: every TIME_WAIT entered was recycled or is "
          "still there (tcpext_tw == tcpext_tw_recycled + time_wait)",
          num(r, "tcpext_tw") ==
          num(r, "tcpext_tw_recycled") + num(r, "time_wait"),
          [r[c] for c in ("tcpext_tw", "tcpext_tw_recycled", "time_wait")])
r = by_reuse.get("2")
if r:
    check("veth tw_reuse=2: nothing recycled, ports ran out",
          num(r, "tcpext_tw_recycled") == 0 and num(r, "eaddrnotavail") > 0,
          (r["tcpext_tw_recycled"], r["eaddrnotavail"]))
PY
}

# A knob without a namespace: the host's settings must not change. Values
# that differ from the host's, so a write would show.
test_isolate_off_keeps_host() {
  local sys=/proc/sys/net/ipv4
  local reuse before_reuse before_buckets before_range
  before_reuse=$(<"$sys/tcp_tw_reuse")
  before_buckets=$(<"$sys/tcp_max_tw_buckets")
  before_range=$(<"$sys/ip_local_port_range")
  reuse=$(((before_reuse + 1) % 3))
  timeout 60 "$bin" --isolate=off --tw_reuse="$reuse" \
    --max_tw_buckets=$((before_buckets == 7 ? 8 : 7)) \
    --port_range=40000-40999 --reuseaddr=1 --closer=rst --concurrency=4 \
    --payload=0 --connections=100 --csv="$TMP/off.csv" \
    >"$TMP/off.out" 2>"$TMP/off.err"
  local status=$?
  # Asked for explicitly, knobs without a namespace are bad input.
  check "isolate=off + knobs: exit 2" test "$status" -eq 2
  expect_grep "isolate=off + knobs: says they need a network namespace" \
    "need a network namespace per run.*--isolate=off runs in the host" \
    "$TMP/off.err"
  check "isolate=off: host tcp_tw_reuse still $before_reuse" \
    test "$(<"$sys/tcp_tw_reuse")" = "$before_reuse"
  check "isolate=off: host tcp_max_tw_buckets still $before_buckets" \
    test "$(<"$sys/tcp_max_tw_buckets")" = "$before_buckets"
  check "isolate=off: host ip_local_port_range unchanged" \
    test "$(<"$sys/ip_local_port_range")" = "$before_range"
}

# A value the kernel refuses fails its run: the row says why, and the exit
# status is 1 once every row is written.
test_refused_knob() {
  expect_status "refused knob: exit 1" 1 "$bin" --port_range=100-200 \
    --closer=rst --reuseaddr=0 --concurrency=1 --payload=0 \
    --connections=10 --isolate=on --csv="$TMP/refused.csv"
  expect_grep "refused knob: says which run and why" \
    "1 run ended in an error.*ip_local_port_range=100-200: Invalid argument" \
    "$TMP/err"
  expect_grep "refused knob: the row carries the error" \
    "ip_local_port_range=100-200: Invalid argument" "$TMP/refused.csv"
}

test_max_tw_buckets
test_veth_tw_reuse
test_isolate_off_keeps_host
test_refused_knob

check_summary
