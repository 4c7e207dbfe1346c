#!/usr/bin/env bash
# What the default matrix of the benchmark binary holds, by name: the core
# cross product (reuseaddr x closer x conc x payload) and the rows that show
# what the kernel knobs, the topology, client port binding and restarts
# change, and the bare-epoll baselines of the payload=0 core rows. Listing
# needs no privilege and runs nothing.
set -uo pipefail
bin="${TWBENCH_BINARY:?TWBENCH_BINARY must name the twbench binary}"
source "$(dirname "$0")/lib/check.sh"

expect_status "--benchmark_list_tests exits 0" 0 "$bin" --benchmark_list_tests
names="$TMP/out"
count() { grep -Ec -- "$1" "$names"; }
core='^BM_Churn/reuseaddr:[01]/reuseport:0/closer:(client|server|rst)/conc:(1|64)/payload:(0|1024)/family:ipv4/iterations:1/real_time$'
check "24 core rows: reuseaddr {0,1} x closer {client,server,rst} x conc {1,64} x payload {0,1024}" \
  test "$(count "$core")" -eq 24
for reuse in 0 1; do
  for closer in client server rst; do
    check "core row reuseaddr:$reuse closer:$closer conc:64 payload:0" \
      test "$(count "^BM_Churn/reuseaddr:$reuse/reuseport:0/closer:$closer/conc:64/payload:0/family:ipv4/iter")" -eq 1
  done
done
knob='closer:client/conc:64/payload:0/family:ipv4/(topology:veth/)?tw_reuse:[02]/(tw_reuse_delay:1/)?port_range:40000-40999/'
check "tcp_tw_reuse 0 and 2 for client-side close, loopback and veth (4 rows)" \
  test "$(count "$knob")" -eq 4
check "two of them on veth" test "$(count "topology:veth/tw_reuse:[02]/")" -eq 2
check "two tw_reuse:2 rows (loopback, veth)" test "$(count "/tw_reuse:2/")" -eq 2
check "port exhaustion through 500 ports, tcp_tw_reuse=0" \
  test "$(count "/conc:8/.*tw_reuse:0/port_range:40000-40499/")" -eq 1
check "client binds its own 500 ports" \
  test "$(count "/client_bind:range/client_ports:20000-20499/")" -eq 1
check "restart rows with reuseaddr 0 and 1" \
  test "$(count "^BM_Churn/reuseaddr:[01]/.*closer:server/.*/restart_every:2000/")" -eq 2
# The bare-epoll baseline of every payload=0 core row (docs/speed.md); the
# closer=server conc=64 one keeps the name it always had.
check "the closer=server conc=64 baseline row" \
  test "$(count '^BM_Baseline/closer:server/conc:64/payload:0/family:ipv4/iterations:1/real_time$')" -eq 1
check "6 baseline rows: closer {client,server,rst} x conc {1,64}, payload 0" \
  test "$(count '^BM_Baseline/closer:(client|server|rst)/conc:(1|64)/payload:0/family:ipv4/iterations:1/real_time$')" -eq 6
check "no other baseline row" test "$(count '^BM_Baseline/')" -eq 6
check "38 rows in all" test "$(wc -l <"$names")" -eq 38
check_summary
