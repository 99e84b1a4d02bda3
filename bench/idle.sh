#!/usr/bin/env bash
# Memory per idle connection, HTTP/1.1 and HTTP/2 (h2c): each load-test
# server on core 0; N connections opened and left idle (HTTP/1.1: after
# one request each, keep-alive; HTTP/2: after the preface and the
# SETTINGS exchange); the server's RSS before and with them.
# RSS counts the pages a process has touched, and where hyper's HTTP/2
# buffers fall on pages varies from one start to the next, so each server
# is started ROUNDS times, in turn, and the median is reported.
#
#   bench/idle.sh            # N=10000, ROUNDS=3
#   N=2000 ROUNDS=1 SERVERS="hyper portico" bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")"
N=${N:-10000}
ROUNDS=${ROUNDS:-3}
read -r -a servers <<< "${SERVERS:-hyper axum actix portico}"
ulimit -n "$(ulimit -Hn)" || true
(cd load && cargo build --release --quiet)
BIN=load/target/release
. ./lib.sh
port=8290
results=$(mktemp)
trap 'rm -f "$results"' EXIT
printf "round\tprotocol\tserver\trss_before_kib\trss_with_kib\tbytes_per_connection\n"
measure() { # round protocol server: one server's RSS with N idle connections, a row
  local round=$1 protocol=$2 server=$3 http2=0 pid
  port=$((port + 1))
  [ "$protocol" = http2 ] && http2=1
  LOAD_HTTP2=$http2 taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
  pid=$!
  wait_for_port "$port"
  python3 - "$port" "$N" "$pid" "$server" "$protocol" "$round" <<'PY' | tee -a "$results"
import socket, sys, time
port, count, pid, server, protocol, round_ = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
def rss():
    return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1])
# One connection first, so that start-up allocations are not counted.
warm = socket.create_connection(("127.0.0.1", port))
if protocol == "http1":
    warm.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"); warm.recv(4096)
time.sleep(0.5)
before = rss()
preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
settings_ack = bytes([0, 0, 0, 4, 1, 0, 0, 0, 0])
conns = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    if protocol == "http1":
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(4096)
    else:
        s.sendall(preface)
        s.recv(4096)            # the server's SETTINGS (and maybe more)
        s.sendall(settings_ack)
    conns.append(s)
time.sleep(1)
with_them = rss()
print(f"{round_}\t{protocol}\t{server}\t{before}\t{with_them}\t{(with_them - before) * 1024 // count}")
for s in conns:
    s.close()
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for round in $(seq "$ROUNDS"); do
  for protocol in http1 http2; do
    for server in "${servers[@]}"; do
      # actix-web serves HTTP/2 only over TLS.
      [ "$protocol" = http2 ] && [ "$server" = actix ] && continue
      measure "$round" "$protocol" "$server"
    done
  done
done
echo
printf "protocol\tserver\tmedian_bytes_per_connection\t÷ hyper\n"
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]) if line.strip()]
medians = {}
for _, protocol, server, _, _, per in rows:
    medians.setdefault((protocol, server), []).append(int(per))
for (protocol, server), values in medians.items():
    median = statistics.median(values)
    hyper = medians.get((protocol, "hyper"))
    ratio = f"{median / statistics.median(hyper):.2f}" if hyper else "-"
    print(f"{protocol}\t{server}\t{median:.0f}\t{ratio}")
PY
