#!/usr/bin/env bash
# Tail latency under overload, for raw hyper, axum, actix-web and Portico
# on (b) GET /json and (e) GET /secure/users/42 (request id + JWT + rate
# limit + access log):
#
# 1. crowd: 1 000 concurrent connections, closed loop (wrk, 2 s timeout);
#    its throughput is the server's saturation rate.
# 2. twice: an open loop (bench/load's `rate`, wrk2-style) sending twice
#    that server's own saturation rate over 1 000 connections, latency
#    counted from when each request was due, a request given up 1 s after
#    it was sent (its connection closed, as a real client's would be).
#
#   bench/overload.sh                          # 3 rounds of 10 s
#   ROUNDS=1 DURATION=5 bench/overload.sh      # a quick look
#
# As bench/run.sh: each server on core 0 with one worker thread, the client
# on core 1; servers alternate each round. Figures: answered/s, p50, p99,
# p99.9 (ms) and the share of errors (timeouts, resets, non-2xx).
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-1000}
FACTOR=${FACTOR:-2}

. ./lib.sh
need wrk wrk
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build_load
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# wrk's summary: requests, errors, then p50/p99/p99.9 in ms.
cat > "$OUT/summary.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  io.write(string.format("SUMMARY\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\n",
    summary.requests, errors, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    summary.duration / 1e6))
end
LUA

read -r -a servers <<< "${SERVERS:-hyper axum actix portico}"
read -r -a scenarios <<< "${SCENARIOS:-b e}"
declare -A path=([b]=/json [e]=/secure/users/42)

port=8290
printf "round\tscenario\tserver\tload\tanswered_per_s\tp50_ms\tp99_ms\tp999_ms\terror_share\n" > "$OUT/raw.tsv"
for round in $(seq 1 "$ROUNDS"); do
  for scenario in "${scenarios[@]}"; do
    for server in "${servers[@]}"; do
      port=$((port + 1))
      taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
      pid=$!
      wait_for_port "$port"
      url="http://127.0.0.1:$port${path[$scenario]}"
      header=()
      [ "$scenario" = e ] && header=(-H "authorization: Bearer $TOKEN")
      # The answer must be a 200 with the envelope before anything counts.
      code=$(curl -s -o /dev/null -w '%{http_code}' "${header[@]}" "$url")
      [ "$code" = 200 ] || { echo "$server answered $scenario with $code"; kill "$pid"; exit 1; }
      taskset -c 1 wrk -t1 -c64 -d1s "${header[@]}" "$url" >/dev/null

      line=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 2s "${header[@]}" \
        -s "$OUT/summary.lua" "$url" | grep '^SUMMARY')
      read -r _ requests errors p50 p99 p999 seconds <<< "$line"
      rps=$(awk -v n="$requests" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}')
      share=$(awk -v e="$errors" -v n="$requests" 'BEGIN {printf "%.4f", (n + e) ? e / (n + e) : 0}')
      printf "%s\t%s\t%s\tcrowd\t%s\t%s\t%s\t%s\t%s\n" "$round" "$scenario" "$server" "$rps" "$p50" "$p99" "$p999" "$share" | tee -a "$OUT/raw.tsv"

      # Let the crowd's connections close before the open loop starts.
      sleep 1
      rate=$(awk -v r="$rps" -v f="$FACTOR" 'BEGIN {printf "%.0f", r * f}')
      rate_header=()
      [ "$scenario" = e ] && rate_header=(--header "authorization: Bearer $TOKEN")
      read -r sent ok other gave_up conn_errors answered p50 p99 p999 _ < <(
        taskset -c 1 "$BIN/rate" --port "$port" --path "${path[$scenario]}" --connections "$CONNECTIONS" \
          --rate "$rate" --seconds "$DURATION" --timeout-ms 1000 "${rate_header[@]}")
      share=$(awk -v s="$sent" -v o="$ok" -v c="$conn_errors" 'BEGIN {printf "%.4f", (s + c) ? (s + c - o) / (s + c) : 0}')
      printf "%s\t%s\t%s\t%sx(%s/s)\t%s\t%s\t%s\t%s\t%s\n" "$round" "$scenario" "$server" "$FACTOR" "$rate" "$answered" "$p50" "$p99" "$p999" "$share" | tee -a "$OUT/raw.tsv"
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
  done
done
echo
echo "== medians over $ROUNDS rounds (by p99)"
for load in crowd "${FACTOR}x"; do
  for scenario in "${scenarios[@]}"; do
    for server in "${servers[@]}"; do
      awk -F'\t' -v s="$scenario" -v v="$server" -v l="$load" '$2==s && $3==v && index($4, l)==1' "$OUT/raw.tsv" |
        sort -t$'\t' -k7 -g |
        awk -F'\t' -v n="$ROUNDS" 'NR==int((n+1)/2) {printf "(%s) %-6s %-8s %9s answered/s  p50 %8s  p99 %8s  p99.9 %8s ms  errors %s\n", $2, $4, $3, $5, $6, $7, $8, $9}'
    done
  done
done
