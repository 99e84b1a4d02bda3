#!/usr/bin/env bash
# Listing at depth: the flagship (examples/users_api) with 1 000 000 users
# in SQLite and in PostgreSQL, measured with wrk on loopback: GET /users/<id>
# (one id, kept server-side, and a random id each request, mostly missing),
# cursor pages (first, middle, last) and numbered pages (first, deepest
# served, middle, last), requests/s and p99.
#
#   bench/listing.sh                       # this commit, 5 s per URL
#   BEFORE=f98c22f bench/listing.sh        # and the flagship at that commit
#   USERS=100000 DURATION=3 ENGINES=sqlite bench/listing.sh
#
# The server runs on core 0, wrk (32 connections, 1 thread) on core 1.
# Cursors for the middle and last pages are found as a client finds them:
# by following meta.next from the first page (limit 100). Talks to
# 127.0.0.1 only; PostgreSQL runs from a temporary data directory.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000000}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
ENGINES=${ENGINES:-sqlite postgres}
PORT=${PORT:-18080}
PGPORT=${PGPORT:-55433}
WORK=$(mktemp -d /tmp/portico-listing.XXXXXX)
chmod 755 "$WORK"
SERVER=""

cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  if [ -f "$WORK/pg/postmaster.pid" ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk sqlite3 python3; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install wrk sqlite3 python3)" >&2; exit 1; }
done
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1 || true)

. bench/flagship.sh


start() { # build url
  PORTICO_ADDR="127.0.0.1:$PORT" PORTICO_DATABASE_URL="$2" \
    taskset -c 0 "$WORK/users_api-$1" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_for_port "$PORT"
}

stop() {
  kill "$SERVER" && wait "$SERVER" 2>/dev/null || true
  SERVER=""
}

# The app migrates an empty database; then the users go in as one insert.
fill_sqlite() { # build file
  start "$1" "sqlite://$2"; stop
  sqlite3 "$2" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $USERS)
    INSERT INTO users (name, email, age) SELECT 'user ' || i, 'u' || i || '@example.com', i % 90 FROM n;"
}

fill_postgres() { # build database
  runuser -u postgres -- "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -d postgres -c "CREATE DATABASE $2"
  start "$1" "postgres://postgres@127.0.0.1:$PGPORT/$2"; stop
  runuser -u postgres -- "$PGBIN/psql" -q -h 127.0.0.1 -p "$PGPORT" -d "$2" -c \
    "INSERT INTO users (name, email, age) SELECT 'user ' || i, 'u' || i || '@example.com', i % 90
     FROM generate_series(1, $USERS) AS i" -c "VACUUM ANALYZE users"
}

# The cursor a client holds after following meta.next `pages` times.
cursor_after() { # pages
  python3 - "$PORT" "$1" <<'PY'
import http.client, json, sys
port, pages = int(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection("127.0.0.1", port)
path, cursor = "/users?limit=100", ""
for _ in range(pages):
    conn.request("GET", path)
    body = json.loads(conn.getresponse().read())
    cursor = body["meta"]["next"] or cursor
    if not body["meta"]["next"]:
        break
    path = "/users?limit=100&after=" + cursor
print(cursor)
PY
}

# A different user each request: GET /users/<id> with the server-side
# cache missing (it keeps 10 000 answers of 1 000 000).
cat > "$WORK/random-id.lua" <<LUA
request = function()
  return wrk.format(nil, "/users/" .. math.random(1, $USERS))
end
LUA

measure() { # engine build label path [wrk script]
  local out status script=()
  [ -n "${5:-}" ] && script=(-s "$5")
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT$4")
  out=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${script[@]}" "http://127.0.0.1:$PORT$4")
  local rps p99
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$status" "$rps" "$p99" | tee -a "$WORK/table.md"
}

if [[ " $ENGINES " == *" postgres "* ]]; then
  [ -n "$PGBIN" ] || { echo "needs the PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
  mkdir -p "$WORK/pg" && chown postgres:postgres "$WORK/pg"
  runuser -u postgres -- "$PGBIN/initdb" -A trust -U postgres -D "$WORK/pg" >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg/log" -w \
    -o "-p $PGPORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" start >/dev/null
fi

echo "| engine | flagship | request | status | requests/s | p99 |" | tee "$WORK/table.md"
echo "|---|---|---|---|---|---|" | tee -a "$WORK/table.md"
middle=$((USERS / 2 / 100))
last=$((USERS / 100))
for engine in $ENGINES; do
  for build in $BUILDS; do
    case $engine in
      sqlite) url="sqlite://$WORK/$build.db"; fill_sqlite "$build" "$WORK/$build.db" ;;
      postgres) url="postgres://postgres@127.0.0.1:$PGPORT/users_$build"; fill_postgres "$build" "users_$build" ;;
    esac
    start "$build" "$url"
    taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d1s "http://127.0.0.1:$PORT/users/77" >/dev/null  # warm-up
    measure "$engine" "$build" "GET /users/77" "/users/77"
    measure "$engine" "$build" "GET /users/<random id>" "/users/1" "$WORK/random-id.lua"
    measure "$engine" "$build" "page 1 of 20" "/users?page=1&page_size=20"
    measure "$engine" "$build" "page 500 of 20 (deepest served now)" "/users?page=500&page_size=20"
    measure "$engine" "$build" "page $((USERS / 40)) of 20 (middle)" "/users?page=$((USERS / 40))&page_size=20"
    measure "$engine" "$build" "page $((USERS / 20)) of 20 (last)" "/users?page=$((USERS / 20))&page_size=20"
    if [ "$build" = now ]; then
      mid=$(cursor_after "$middle")
      end=$(cursor_after $((last - 1)))
      # Twice, in opposite orders, so drift over the run is not read as
      # the cost of depth.
      measure "$engine" "$build" "cursor, first 20" "/users?limit=20"
      measure "$engine" "$build" "cursor, 20 from the middle" "/users?limit=20&after=$mid"
      measure "$engine" "$build" "cursor, 20 near the end" "/users?limit=20&after=$end"
      measure "$engine" "$build" "cursor, 20 near the end (again)" "/users?limit=20&after=$end"
      measure "$engine" "$build" "cursor, 20 from the middle (again)" "/users?limit=20&after=$mid"
      measure "$engine" "$build" "cursor, first 20 (again)" "/users?limit=20"
    fi
    stop
  done
done
echo
echo "USERS=$USERS DURATION=${DURATION}s CONNECTIONS=$CONNECTIONS at $(git rev-parse --short HEAD)"
