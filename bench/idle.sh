#!/usr/bin/env bash
# Memory per idle connection, HTTP/1.1 and HTTP/2 (h2c): each load-test
# server on core 0; N connections opened and left idle (HTTP/1.1: after
# one request each, keep-alive; HTTP/2: after the preface and the
# SETTINGS exchange); the server's RSS before and with them.
#
#   bench/idle.sh            # N=10000
#   N=2000 SERVERS="hyper portico" bench/idle.sh
set -euo pipefail
cd "$(dirname "$0")"
N=${N:-10000}
read -r -a servers <<< "${SERVERS:-hyper axum actix portico}"
ulimit -n "$(ulimit -Hn)" || true
(cd load && cargo build --release --quiet)
BIN=load/target/release
. ./lib.sh
port=8290
printf "protocol\tserver\trss_before_kib\trss_with_kib\tbytes_per_connection\n"
for protocol in http1 http2; do
  for server in "${servers[@]}"; do
    # actix-web serves HTTP/2 only over TLS.
    [ "$protocol" = http2 ] && [ "$server" = actix ] && continue
    port=$((port + 1))
    http2=0; [ "$protocol" = http2 ] && http2=1
    LOAD_HTTP2=$http2 taskset -c 0 "$BIN/load-$server" --port "$port" >/dev/null 2>&1 &
    pid=$!
    wait_for_port "$port"
    python3 - "$port" "$N" "$pid" "$server" "$protocol" <<'PY'
import socket, sys, time
port, count, pid, server, protocol = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
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
print(f"{protocol}\t{server}\t{before}\t{with_them}\t{(with_them - before) * 1024 // count}")
for s in conns:
    s.close()
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true
  done
done
