#!/usr/bin/env bash
# What sharing state between instances costs: starts a throwaway
# PostgreSQL and Redis on loopback, then measures a rate-limit check and an
# idempotency replay in process, on PostgreSQL and on Redis
# (bin/shared_state), and the PostgreSQL queue's drain with one and with
# three instances' workers (bin/queue_throughput).
#
#   bash bench/shared_state.sh [N]     (default 20000 calls each)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort | tail -1)
[ -x "$pg_bin/initdb" ] || { echo "install the PostgreSQL server (apt-get install postgresql)"; exit 1; }
command -v redis-server >/dev/null || { echo "install redis-server (apt-get install redis-server)"; exit 1; }
dir=$(mktemp -d)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pg_port=$(free_port); redis_port=$(free_port)
cleanup() {
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  [ -n "${redis_pid:-}" ] && kill "$redis_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
as_pg "$pg_bin/initdb" -D "$dir/data" -A trust -U portico --no-sync >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w \
  -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
redis_pid=$!
sleep 0.5
export PORTICO_BENCH_POSTGRES="host=127.0.0.1 port=$pg_port user=portico dbname=postgres"
export PORTICO_BENCH_REDIS="redis://127.0.0.1:$redis_port/"
cargo build --release -q -p portico-bench --bin shared_state --bin queue_throughput
target/release/shared_state "$n"
target/release/queue_throughput postgres "$n" drain
INSTANCES=3 target/release/queue_throughput postgres "$n" drain
