#!/usr/bin/env bash
# HTTP/2 (h2c, prior knowledge) load test: raw hyper, axum and Portico
# serving (b) GET /json and (e) GET /secure/users/42 (request id + JWT +
# rate limit + access log) to h2load, 64 connections × 10 streams each.
#
#   bench/h2.sh                       # 3 rounds of 10 s per server and scenario
#   ROUNDS=1 DURATION=5 bench/h2.sh   # a quick look
#
# As bench/run.sh: each server on core 0 with one worker thread, h2load on
# core 1 with one thread; servers alternate each round; the figures are
# requests/s, p50/p99 latency (from h2load's per-request log) and server
# user CPU per request (utime over the requests answered). actix-web is
# left out: it serves HTTP/2 only over TLS, not h2c.
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
STREAMS=${STREAMS:-10}

. ./lib.sh
need h2load nghttp2-client

build_load
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

read -r -a servers <<< "${SERVERS:-hyper axum portico}"
read -r -a scenarios <<< "${SCENARIOS:-b e}"
declare -A path=([b]=/json [e]=/secure/users/42)

utime() { awk '{print $14}' "/proc/$1/stat"; }
ticks=$(getconf CLK_TCK)
port=8190
printf "round\tscenario\tserver\treq_per_s\tp50_ms\tp99_ms\tus_user_per_req\terrors\n" > "$OUT/raw.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for scenario in "${scenarios[@]}"; do
    for server in "${servers[@]}"; do
      port=$((port + 1))
      LOAD_HTTP2=1 taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
      pid=$!
      wait_for_port "$port"
      args=(-c"$CONNECTIONS" -m"$STREAMS" -t1)
      [ "$scenario" = e ] && args+=(-H "authorization: Bearer $TOKEN")
      # The answer must be a 200 over h2c before anything is measured.
      check=$(taskset -c 1 h2load -n1 -c1 "${args[@]:2}" "http://127.0.0.1:$port${path[$scenario]}" 2>&1)
      grep -q "1 succeeded" <<< "$check" || { echo "$server did not answer $scenario over h2c:"; echo "$check"; kill "$pid"; exit 1; }
      taskset -c 1 h2load "${args[@]}" -D 1 "http://127.0.0.1:$port${path[$scenario]}" >/dev/null 2>&1 || true
      before=$(utime "$pid")
      report=$(taskset -c 1 h2load "${args[@]}" -D "$DURATION" --log-file="$OUT/log" "http://127.0.0.1:$port${path[$scenario]}")
      after=$(utime "$pid")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      rps=$(grep -oP 'finished in [0-9.]+s, \K[0-9.]+(?= req/s)' <<< "$report")
      done_n=$(grep -oP 'requests: .* \K[0-9]+(?= succeeded)' <<< "$report")
      failed=$(grep -oP '[0-9]+(?= failed)' <<< "$report" | head -1)
      errored=$(grep -oP '[0-9]+(?= errored)' <<< "$report" | head -1)
      # The log: start (µs), status, duration (µs), one request a line.
      read -r p50 p99 < <(awk '{print $3}' "$OUT/log" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
      us=$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$done_n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
      printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$scenario" "$server" "$rps" "$p50" "$p99" "$us" "$((failed + errored))" | tee -a "$OUT/raw.tsv"
    done
  done
done
echo
echo "== medians over $ROUNDS rounds"
for scenario in "${scenarios[@]}"; do
  for server in "${servers[@]}"; do
    awk -F'\t' -v s="$scenario" -v v="$server" '$2==s && $3==v' "$OUT/raw.tsv" | sort -t$'\t' -k7 -n |
      awk -F'\t' -v n="$ROUNDS" 'NR==int((n+1)/2) {printf "(%s) %-8s %10s req/s  p50 %6s ms  p99 %6s ms  %6s µs user/req  errors %s\n", $2, $3, $4, $5, $6, $7, $8}'
  done
done
