#!/usr/bin/env bash
# scripts/mpi_topology: up K=2 makes 3 rank namespaces and a bridge
# namespace with the documented addresses, every rank reaches every other
# over TCP (extra client source addresses too), the host's namespace gains
# no link; down removes everything and is idempotent; run removes everything
# after a failing command, on SIGTERM and on SIGINT; it refuses (exit 2) as
# a user, on bad arguments and on names that exist, and leaves those alone.
set -uo pipefail
ROOT=${TWBENCH_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
source "$ROOT/tests/lib/check.sh"
topo=$ROOT/scripts/mpi_topology

expect_status "--help exits 0" 0 "$topo" --help
expect_grep "--help gives the address scheme" '198\.18\.r\.2 \.\.\. 198\.18\.r\.N' "$TMP/out"
expect_status "K=0 exits 2" 2 "$topo" up 0
expect_grep "K=0 says what K may be" "want the number of client ranks, 1 to 253" "$TMP/err"
expect_status "a prefix ending in a digit exits 2" 2 "$topo" up 2 --prefix=twb1

if [[ $(id -u) -ne 0 ]]; then
  skip_all "network namespaces need root (ip netns add)"
fi
command -v ip >/dev/null || skip_all "ip not found (Debian iproute2)"
command -v python3 >/dev/null || skip_all "python3 not found (the TCP checks)"

# A prefix of this test's own: P0 P1 P2 Pbr never meet the default twb* or
# another test run's.
P=twbt$$x
trap '"$topo" down --prefix="$P" >/dev/null 2>&1; rm -rf "$TMP"' EXIT

host_links() { ip -o link show | awk -F': ' '{ print $2 }' | sort; }
host_links >"$TMP/links.before"

# left NAME: the namespaces of prefix P that exist, one per line.
left() { ip netns list | awk -v p="$P" '$1 ~ ("^" p "([0-9]+|br)$") { print $1 }'; }
expect_nothing_left() {
  local what
  what=$(left; find /run/netns -maxdepth 1 -name "$P*" 2>/dev/null)
  if [[ -z $what ]]; then pass "$1: nothing left"; else fail "$1: left: $(tr '\n' ' ' <<<"$what")"; fi
}
expect_host_unchanged() {
  host_links >"$TMP/links.now"
  if diff "$TMP/links.before" "$TMP/links.now" >"$TMP/links.diff"; then
    pass "$1: the host's namespace gained no link"
  else
    fail "$1: the host's links changed: $(tr '\n' ' ' <"$TMP/links.diff")"
  fi
}

test_not_root() {
  local name="as user nobody"
  if ! command -v setpriv >/dev/null; then
    skip "$name" "needs setpriv"; return
  fi
  # A copy nobody can read wherever the checkout lives.
  mkdir -p "$TMP/repo/scripts/lib"
  cp "$topo" "$TMP/repo/scripts/"
  cp "$ROOT/scripts/lib/common.sh" "$TMP/repo/scripts/lib/"
  chmod -R a+rX "$TMP"
  expect_status "$name: up exits 2" 2 setpriv --reuid=65534 --regid=65534 \
    --clear-groups "$TMP/repo/scripts/mpi_topology" up 2 --prefix="$P"
  expect_grep "$name: says it needs root" 'needs root .*run it as root' "$TMP/err"
  expect_nothing_left "$name"
}

# TCP from every rank to every other, and from the extra source addresses
# of the clients to the server: each server answers with its name and the
# address it saw.
write_tcp_py() {
  cat >"$TMP/tcp.py" <<'PY'
import socket, sys
if sys.argv[1] == "serve":
    name, count, ready = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 5001))
    s.listen(16)
    s.settimeout(20)  # bounded: a check that never connects ends it
    open(ready, "w").close()
    for _ in range(count):
        c, peer = s.accept()
        c.sendall(f"{name} {peer[0]}\n".encode())
        c.close()
else:
    src, dst = sys.argv[2], sys.argv[3]
    c = socket.create_connection((dst, 5001), timeout=5, source_address=(src, 0))
    print(c.makefile().readline().strip())
PY
}

# wait_for FILE: up to 5 s for FILE to exist.
wait_for() {
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -e $1 ]] && return 0
    sleep 0.1
  done
  return 1
}

# connect NAME FROM_NS SRC DST WANT: FROM_NS connects from SRC to DST.
connect() {
  local got
  got=$(timeout 10 ip netns exec "$2" python3 "$TMP/tcp.py" connect "$3" "$4" 2>&1)
  if [[ $got == "$5 $3" ]]; then
    pass "$1"
  else
    fail "$1: got '$got', want '$5 $3'"
  fi
}

test_reach() {
  local -a addr=(198.18.0.1 198.18.0.2 198.18.0.3) pids=() counts=(4 2 2)
  local r i j
  write_tcp_py
  for r in 0 1 2; do
    timeout 30 ip netns exec "$P$r" python3 "$TMP/tcp.py" serve "$P$r" \
      "${counts[r]}" "$TMP/ready$r" &
    pids+=($!)
  done
  for r in 0 1 2; do
    wait_for "$TMP/ready$r" || fail "rank $r: its TCP server did not start in 5 s"
  done
  for i in 0 1 2; do
    for j in 0 1 2; do
      ((i != j)) || continue
      connect "rank $i reaches rank $j" "$P$i" "${addr[i]}" "${addr[j]}" "$P$j"
    done
  done
  connect "rank 1's second address reaches rank 0" "$P"1 198.18.1.2 198.18.0.1 "$P"0
  connect "rank 2's second address reaches rank 0" "$P"2 198.18.2.2 198.18.0.1 "$P"0
  for r in 0 1 2; do
    check "rank $r: its TCP server saw every connection" wait "${pids[r]}"
  done
}

test_up_down() {
  expect_status "up 2 exits 0" 0 "$topo" up 2 --prefix="$P" --client_addrs=2
  cp "$TMP/out" "$TMP/up.out"
  expect_grep "up prints rank 0" "^rank 0 netns ${P}0 server 198\.18\.0\.1$" "$TMP/up.out"
  expect_grep "up prints rank 1" "^rank 1 netns ${P}1 client 198\.18\.0\.2 198\.18\.1\.2$" "$TMP/up.out"
  expect_grep "up prints rank 2" "^rank 2 netns ${P}2 client 198\.18\.0\.3 198\.18\.2\.2$" "$TMP/up.out"
  expect_grep "up prints the bridge" "^bridge netns ${P}br br0" "$TMP/up.out"
  check "up made 4 namespaces" test "$(left | wc -l)" -eq 4
  check "rank 1 has lo up" ip netns exec "$P"1 sh -c 'ip -o link show lo | grep -q "[<,]UP[,>]"'
  check "br0 has the 3 veth ends" test "$(ip -n "$P"br -o link show master br0 | wc -l)" -eq 3
  test_reach
  expect_host_unchanged "up"
  check "the host has no 198.18 address" sh -c '! ip -o addr show | grep -q " 198\.18\."'

  expect_status "up again refuses: exit 2" 2 "$topo" up 2 --prefix="$P"
  expect_grep "up again names the way out" "down --prefix=$P" "$TMP/err"
  expect_status "run refuses too: exit 2" 2 "$topo" run 2 --prefix="$P" -- true
  check "the refusals left the 4 namespaces alone" test "$(left | wc -l)" -eq 4
  expect_status "up --replace exits 0" 0 "$topo" up 1 --prefix="$P" --replace
  check "up --replace left 1+1 ranks and the bridge" test "$(left | wc -l)" -eq 3

  expect_status "down exits 0" 0 "$topo" down --prefix="$P"
  expect_nothing_left "down"
  expect_host_unchanged "down"
  expect_status "down again exits 0" 0 "$topo" down --prefix="$P"
}

test_run() {
  # shellcheck disable=SC2016 # expanded by the command's shell
  expect_status "run: a failing command's status" 7 "$topo" run 2 --prefix="$P" \
    -- bash -c 'ip netns list >"$1/run.ns"; env >"$1/run.env"; exit 7' run "$TMP"
  check "run: the command saw the namespaces" test "$(grep -c "^$P" "$TMP/run.ns")" -eq 4
  expect_grep "run: TWB_RANK_NETNS" "^TWB_RANK_NETNS=/run/netns/$P%r$" "$TMP/run.env"
  expect_grep "run: TWB_NP" "^TWB_NP=3$" "$TMP/run.env"
  expect_grep "run: TWB_SERVER_ADDR" "^TWB_SERVER_ADDR=198\.18\.0\.1$" "$TMP/run.env"
  expect_nothing_left "run, failing command"
  expect_status "run: a command that succeeds: exit 0" 0 "$topo" run 1 --prefix="$P" -- true
  expect_nothing_left "run, command exit 0"
  expect_status "run: a command that is not there: exit 127" 127 \
    "$topo" run 1 --prefix="$P" -- twbench-no-such-command
  expect_nothing_left "run, missing command"
}

# run_signal SIGNAL STATUS: run with a long command, SIGNAL to run once the
# topology is up; run must stop the command and remove everything.
run_signal() {
  local sig=$1 want=$2 pid status=0 i child
  rm -f "$TMP/child.pid"
  # SIGINT is ignored by a background command of a script; reset it.
  # shellcheck disable=SC2016 # expanded by the command's shell
  python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' "$topo" run 2 --prefix="$P" \
    -- bash -c 'echo $$ >"$1/child.pid"; exec sleep 60' run "$TMP" \
    >/dev/null 2>"$TMP/signal.err" &
  pid=$!
  if ! wait_for "$TMP/child.pid"; then
    fail "run, $sig: the command did not start in 5 s"
    kill -KILL "$pid" 2>/dev/null
    return
  fi
  child=$(<"$TMP/child.pid")
  kill -"$sig" "$pid"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null && fail "run, $sig: still running 15 s later"
  wait "$pid" || status=$?
  check "run, $sig: exit $want (got $status)" test "$status" -eq "$want"
  check "run, $sig: the command was stopped" sh -c "! kill -0 $child 2>/dev/null"
  expect_nothing_left "run, $sig"
}

test_not_root
"$topo" down --prefix="$P" >/dev/null 2>&1
test_up_down
test_run
run_signal TERM 143
run_signal INT 130
expect_host_unchanged "the end"
check_summary
