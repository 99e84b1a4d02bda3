#!/usr/bin/env bash
# End-to-end load test: raw hyper, axum, actix-web and Portico serving the
# same five scenarios, measured with wrk on loopback, and bench/RESULTS.md.
#
#   bench/run.sh                 # 5 rounds of 10 s per server and scenario
#   ROUNDS=1 DURATION=3 bench/run.sh   # a quick look
#   SERVERS="hyper portico" SCENARIOS="b c" bench/run.sh
#
# The machine has 2 cores: each server runs on core 0 with one worker
# thread, wrk on core 1; servers alternate A B C D A B C D … so drift hits
# them alike, and ratios are taken pairwise per round. User-mode CPU per
# request (utime from /proc/PID/stat over the requests served) is the
# figure that tells frameworks apart here: loopback's kernel work is most
# of the total. Runs are bounded (DURATION per run) and target 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
IDLE_CONNECTIONS=${IDLE_CONNECTIONS:-10000}

if ! command -v wrk >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q wrk
fi

echo "== building the servers (release)"
(cd load && cargo build --release --quiet)
BIN=load/target/release
TOKEN=$("$BIN/load-portico" --print-token)
OUT=$(mktemp -d)
RAW="$OUT/raw.tsv"
IDLE="$OUT/idle.tsv"
: > "$RAW"
: > "$IDLE"
RESULTS=${RESULTS:-RESULTS.md}

cat > "$OUT/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"Alice Liddell","email":"alice@example.com","age":30}'
wrk.headers["Content-Type"] = "application/json"
LUA

read -r -a servers <<< "${SERVERS:-hyper axum actix portico}"
read -r -a scenarios <<< "${SCENARIOS:-a b c d e}"
declare -A path=([a]=/plaintext [b]=/json [c]=/users/42 [d]=/users [e]=/secure/users/42)

. ./lib.sh

utime() { awk '{print $14}' "/proc/$1/stat"; }

# The servers must answer alike, or the comparison means nothing: status,
# body and content type of the measured request, and for (e) a 401 without
# the token (so the JWT is really checked), a request id and rate-limit
# headers on the answer; and on every answer Portico's two security
# headers, which the peers are set up to send too. Stops the run on any
# difference.
declare -A want_status=([a]=200 [b]=200 [c]=200 [d]=201 [e]=200)
declare -A want_body=([a]='Hello, World!' [b]='{"message":"Hello, World!"}' [c]='{"id":42}'
  [d]='{"name":"Alice Liddell","email":"alice@example.com","age":30}' [e]='{"id":42}')
declare -A want_type=([a]='text/plain' [b]='application/json' [c]='application/json'
  [d]='application/json' [e]='application/json')
check_answers() { # server scenario port
  local url="http://127.0.0.1:$3${path[$2]}" args=(-s -o "$OUT/body" -D "$OUT/head" -w '%{http_code}')
  case $2 in
    d) args+=(-X POST -H 'Content-Type: application/json'
         --data '{"name":"Alice Liddell","email":"alice@example.com","age":30}') ;;
    e) [ "$(curl "${args[@]}" "$url")" = 401 ] || { echo "$1 ($2): no 401 without a token" >&2; exit 1; }
       args+=(-H "Authorization: Bearer $TOKEN") ;;
  esac
  local status
  status=$(curl "${args[@]}" "$url")
  if [ "$status" != "${want_status[$2]}" ] || [ "$(cat "$OUT/body")" != "${want_body[$2]}" ]; then
    echo "$1 ($2) answered $status $(cat "$OUT/body"); expected ${want_status[$2]} ${want_body[$2]}" >&2
    exit 1
  fi
  grep -qi "^content-type: ${want_type[$2]}" "$OUT/head" ||
    { echo "$1 ($2): no content-type ${want_type[$2]}" >&2; cat "$OUT/head" >&2; exit 1; }
  grep -qi '^x-content-type-options: nosniff' "$OUT/head" && grep -qi '^cache-control: no-store' "$OUT/head" ||
    { echo "$1 ($2): no nosniff or no-store" >&2; cat "$OUT/head" >&2; exit 1; }
  if [ "$2" = e ]; then
    grep -qi '^x-request-id: ' "$OUT/head" && grep -qiE '^(x-)?ratelimit' "$OUT/head" ||
      { echo "$1 (e): no request id or rate-limit headers" >&2; cat "$OUT/head" >&2; exit 1; }
  fi
}

port=9100
for scenario in "${scenarios[@]}"; do
  for round in $(seq 1 "$ROUNDS"); do
    for server in "${servers[@]}"; do
      port=$((port + 1))
      taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
      pid=$!
      wait_for_port "$port"
      check_answers "$server" "$scenario" "$port"
      args=(-t1 -c"$CONNECTIONS" -d"$DURATION"s --latency)
      [ "$scenario" = d ] && args+=(-s "$OUT/post.lua")
      [ "$scenario" = e ] && args+=(-H "Authorization: Bearer $TOKEN")
      # A short warm-up, not measured.
      taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s "${args[@]:4}" "http://127.0.0.1:$port${path[$scenario]}" >/dev/null 2>&1 || true
      before=$(utime "$pid")
      report=$(taskset -c 1 wrk "${args[@]}" "http://127.0.0.1:$port${path[$scenario]}")
      after=$(utime "$pid")
      rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
      kill "$pid"; wait "$pid" 2>/dev/null || true
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$server" "$round" "$((after - before))" "$rss" \
        "$(echo "$report" | tr '\n' '|')" >> "$RAW"
      echo "scenario $scenario round $round $server: $(echo "$report" | grep 'Requests/sec')"
    done
  done
done

if [ "$IDLE_CONNECTIONS" -gt 0 ]; then
echo "== memory with $IDLE_CONNECTIONS idle keep-alive connections"
ulimit -n "$(ulimit -Hn)" || true
for server in "${servers[@]}"; do
  port=$((port + 1))
  taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
  pid=$!
  wait_for_port "$port"
  python3 - "$port" "$IDLE_CONNECTIONS" "$pid" "$server" >> "$IDLE" <<'PY'
import socket, sys, time
port, count, pid, server = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
conns = []
request = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(request)
    s.recv(4096)
    conns.append(s)
time.sleep(1)
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
print(f"{server}\t{rss}")
for s in conns:
    s.close()
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
fi

# Figures of the other benchmarks (queue, idempotency) live below a marker
# in the same file; a load-test run keeps them.
KEPT="$OUT/kept.md"
sed -n '/^<!-- other benchmarks -->$/,$p' "$RESULTS" > "$KEPT" 2>/dev/null || : > "$KEPT"
python3 - "$RAW" "$IDLE" "$ROUNDS" "$DURATION" "$CONNECTIONS" > "$RESULTS" <<'PY'
import statistics, sys, re, subprocess, platform
raw, idle, rounds, duration, connections = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ticks = int(subprocess.check_output(["getconf", "CLK_TCK"]).strip())
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
runs = {}
for line in open(raw):
    scenario, server, rnd, dticks, rss, report = line.rstrip("\n").split("\t")
    lines = report.split("|")
    rps = float(next(l for l in lines if l.startswith("Requests/sec")).split()[1])
    requests = int(next(l for l in lines if "requests in" in l).split()[0])
    p50 = ms(next(l for l in lines if l.strip().startswith("50%")).split()[1])
    p99 = ms(next(l for l in lines if l.strip().startswith("99%")).split()[1])
    cpu_us = int(dticks) / ticks * 1e6 / max(requests, 1)
    runs[(scenario, server, int(rnd))] = dict(rps=rps, p50=p50, p99=p99, cpu=cpu_us, rss=int(rss))
servers = ["hyper", "axum", "actix", "portico"]
names = {"a": "(a) GET /plaintext", "b": "(b) GET /json", "c": "(c) GET /users/<id>",
         "d": "(d) POST /users (validated JSON)", "e": "(e) (c) behind request id + JWT + rate limit + access log"}
cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print("# Load test results\n")
print(f"Machine: {platform.machine()}, {cpu_model}, {subprocess.check_output(['nproc']).decode().strip()} cores; "
      f"{platform.system()} {platform.release()}.  ")
print(f"Command: `bench/run.sh` — {rounds} rounds × {duration} s per server and scenario, wrk -t1 -c{connections}, "
      "server pinned to core 0 (one worker thread), wrk to core 1, servers alternating each round.  ")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
print(f"Portico at commit {commit}; rustc: {subprocess.check_output(['rustc', '--version']).decode().strip()}; wrk: "
      f"{subprocess.run(['wrk', '--version'], capture_output=True, text=True).stdout.splitlines()[0] if True else ''}\n")
print("User CPU per request is the server's utime over the requests wrk counted. Ratios are to raw hyper, "
      "taken per round (same round, adjacent runs) and then the median.\n")
for scenario in "abcde":
    print(f"## {names[scenario]}\n")
    print("| server | req/s (median) | p50 ms | p99 ms | user CPU µs/req | req/s ÷ hyper | CPU ÷ hyper | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rounds_seen = sorted({r for (s, _, r) in runs if s == scenario})
    for server in servers:
        mine = [runs[(scenario, server, r)] for r in rounds_seen if (scenario, server, r) in runs]
        if not mine:
            continue
        med = lambda key: statistics.median(m[key] for m in mine)
        pairs = [(runs[(scenario, server, r)], runs[(scenario, "hyper", r)]) for r in rounds_seen
                 if (scenario, server, r) in runs and (scenario, "hyper", r) in runs]
        rps_ratio = statistics.median(a["rps"] / b["rps"] for a, b in pairs) if pairs else float("nan")
        cpu_ratio = statistics.median(a["cpu"] / b["cpu"] for a, b in pairs) if pairs else float("nan")
        print(f"| {server} | {med('rps'):,.0f} | {med('p50'):.2f} | {med('p99'):.2f} | {med('cpu'):.2f} | "
              f"{rps_ratio:.3f} | {cpu_ratio:.3f} | {max(m['rss'] for m in mine) / 1024:.1f} |")
    print()
print("## Memory with idle keep-alive connections\n")
print("| server | RSS MiB |")
print("| --- | --- |")
for line in open(idle):
    server, rss = line.split()
    print(f"| {server} | {int(rss) / 1024:.1f} |")
PY
if [ -s "$KEPT" ]; then printf '\n' >> "$RESULTS"; cat "$KEPT" >> "$RESULTS"; fi
echo "== wrote bench/$RESULTS"
