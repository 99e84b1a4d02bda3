#!/usr/bin/env bash
# Instructions per request of every load-test server in every scenario,
# by callgrind (bench/callgrind.sh: two bounded wrk runs under valgrind,
# the difference of the totals over the difference of the requests): a
# yardstick that does not drift with the machine's load, where wall-clock
# figures here swing ±15 %. Prints a markdown table with each server's
# ratio to raw hyper; raw hyper is measured twice, with its default write
# strategy (writev) and with the flattening one Portico's server uses
# (`hyper-flat`), and Portico's like-for-like ratio is to the latter.
#
#   bench/instructions.sh                 (SERVERS, SCENARIOS, CONNS, REPEAT narrow or widen it)
#
# Build the servers first, with line tables for callgrind:
#   (cd bench/load && CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/load/target/release"
servers=${SERVERS:-"hyper hyper-flat portico axum actix"}
scenarios=${SCENARIOS:-"a b c d e"}
export CONNS=${CONNS:-1} REPEAT=${REPEAT:-3}
TOKEN=$("$bin/load-portico" --print-token)
export TOKEN

declare -A count
for server in $servers; do
  exe="$bin/load-${server%-flat}"
  [ -x "$exe" ] || { echo "missing $exe: build bench/load first" >&2; exit 1; }
  for scenario in $scenarios; do
    if [ "$server" = hyper-flat ]; then
      line=$(LOAD_WRITEV=0 bash "$here/callgrind.sh" "$exe" "$scenario")
    else
      line=$(bash "$here/callgrind.sh" "$exe" "$scenario")
    fi
    count[$server.$scenario]=$(echo "$line" | awk '{print $3}')
    echo "$server $line" >&2
  done
done

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '| server |'; for s in $scenarios; do printf ' (%s) |' "$s"; done; echo
printf '| --- |'; for _ in $scenarios; do printf ' --- |'; done; echo
for server in $servers; do
  printf '| %s |' "$server"
  for s in $scenarios; do
    n=${count[$server.$s]}
    base=${count[hyper.$s]:-}
    [ "$server" = portico ] && [ -n "${count[hyper-flat.$s]:-}" ] && base=${count[hyper-flat.$s]}
    if [ -n "$base" ] && [ "$server" != hyper ]; then
      printf ' %s (%s×) |' "$n" "$(ratio "$n" "$base")"
    else
      printf ' %s |' "$n"
    fi
  done
  echo
done
