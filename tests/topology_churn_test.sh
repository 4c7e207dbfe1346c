#!/usr/bin/env bash
# tcp_tw_reuse=2 is loopback-only: with a 1000-port range and client-side
# close, the binary's rows must show TIME_WAIT recycled on loopback and not
# over veth (EADDRNOTAVAIL instead), and with reuse off none anywhere.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/tests/lib/check.sh"
if [[ $(id -u) -ne 0 ]]; then
  skip_all "veth and per-namespace sysctls need root (CAP_SYS_ADMIN)"
fi
work=$TMP  # check.sh removes it on exit
timeout 300 "$bin" --topology=loopback,veth --closer=client --reuseaddr=1 \
  --concurrency=64 --payload=0 --tw_reuse=0,2 --tw_reuse_delay=1 \
  --port_range=40000-40999 --connections=3000 --isolate=on \
  --csv="$work/rows.csv" >"$work/out.log" 2>&1 || {
  cat "$work/out.log"
  echo "0 passed, 1 failed"
  exit 1
}
python3 - "$work/rows.csv" <<'PY'
import csv, sys
rows = {(r["topology"], r["tw_reuse"]): r
        for r in csv.DictReader(open(sys.argv[1]))}
checks = []
def check(name, ok):
    checks.append(ok)
    print(("PASS " if ok else "FAIL ") + name)
def num(topology, reuse, column):
    return float(rows[(topology, reuse)][column])
check("four rows, all isolated", len(rows) == 4 and
      all(r["isolated"] == "1" and r["error"] == "" for r in rows.values()))
check("rows carry the knobs read back", all(
    r["port_range"] == "40000-40999" and r["tw_reuse_delay_ms"] == "1"
    for r in rows.values()))
check("loopback, tw_reuse=2: TIME_WAIT recycled",
      num("loopback", "2", "tcpext_tw_recycled") > 0)
check("loopback, tw_reuse=2: no EADDRNOTAVAIL",
      num("loopback", "2", "eaddrnotavail") == 0)
check("veth, tw_reuse=2: nothing recycled",
      num("veth", "2", "tcpext_tw_recycled") == 0)
check("veth, tw_reuse=2: ports run out",
      num("veth", "2", "eaddrnotavail") > 0)
for topology in ("loopback", "veth"):
    check(f"{topology}, tw_reuse=0: ports run out, run goes to its budget",
          num(topology, "0", "eaddrnotavail") > 0 and
          num(topology, "0", "attempted") == 3000)
failed = checks.count(False)
print(f"{len(checks) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
