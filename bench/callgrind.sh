#!/usr/bin/env bash
# Instructions per request, measured with callgrind (repeatable where
# wall-clock figures on a shared machine swing ±15 %): the server runs
# under valgrind twice, loaded by wrk for a short and a long run; the
# difference of the two totals over the difference of the request counts
# is the marginal cost of one request, start-up and shut-down cancelled.
# The counters are zeroed once the server has answered one request of the
# scenario: what start-up costs varies from run to run (a clock's
# calibration, say), and would otherwise leak into the difference.
#
#   bench/callgrind.sh BINARY SCENARIO...   (scenarios: a b c d e)
#
# CONNS=N (default 8) sets the connections; CONNS=1 makes every request
# one wake-up of the server, the steadiest figure for comparing builds.
# REPEAT=N (default 3) measures each scenario N times and prints every
# figure and their median: with CONNS=1 the runs agree to the instruction
# (raw hyper's default writev moves by ~200 between starts); with more
# connections, how requests share the server's wake-ups moves them.
#
# TOKEN=… gives the bearer token for (e) (by default the binary prints
# one: load-portico does; bench/instructions.sh passes it to the others).
# BINARY is a load-test server from bench/load (build it with
# CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release).
set -euo pipefail
bin=$1; shift
port=${PORT:-8097}
short=${SHORT:-2}; long=${LONG:-6}
command -v valgrind >/dev/null || { echo "install valgrind (apt-get install valgrind)"; exit 1; }
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)"; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
token=${TOKEN:-$("$bin" --print-token)}
body='{"name":"Ada","email":"ada@example.com","age":36}'
cat > "$out/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

run() { # scenario seconds -> "instructions requests"
  local scenario=$1 secs=$2 path args=() once=()
  case $scenario in
    a) path=/plaintext ;;
    b) path=/json ;;
    c) path=/users/42 ;;
    d) path=/users; args=(-s "$out/post.lua")
       once=(-H "Content-Type: application/json" --data "$body") ;;
    e) path=/secure/users/42; args=(-H "Authorization: Bearer $token"); once=("${args[@]}") ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$scenario.$secs" \
    "$bin" --port "$port" >/dev/null 2>"$out/vg.log" &
  local pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/plaintext" && break
    sleep 0.2
  done
  curl -s -o /dev/null "${once[@]}" "http://127.0.0.1:$port$path"
  callgrind_control --zero "$pid" >/dev/null 2>&1
  local reqs
  reqs=$(wrk -t1 -c"${CONNS:-8}" -d"${secs}s" "${args[@]}" "http://127.0.0.1:$port$path" \
    | awk '/requests in/ {print $1}')
  # TERM, not INT: a background job of a script ignores SIGINT, and the
  # peers install no handler (Portico shuts down gracefully on either).
  kill -TERM "$pid"; wait "$pid" || true
  local instr
  instr=$(awk '/^summary:|^totals:/ {print $2; exit}' "$out/cg.$scenario.$secs")
  echo "$instr $reqs"
}

for scenario in "$@"; do
  figures=()
  for _ in $(seq "${REPEAT:-3}"); do
    read -r i1 r1 < <(run "$scenario" "$short")
    read -r i2 r2 < <(run "$scenario" "$long")
    figures+=($(( (i2 - i1) / (r2 - r1) )))
  done
  median=$(printf '%s\n' "${figures[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$scenario: median $median instructions/request (runs: ${figures[*]})"
done
