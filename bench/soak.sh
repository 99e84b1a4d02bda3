#!/usr/bin/env bash
# A mixed read/write soak on the flagship: one request in ten creates a
# user (POST /users with a token), the others list the first page
# (GET /users?page=1&page_size=20, the seed's numbered page with its
# total), on a fresh SQLite file that grows as it runs. Requests/s per
# 10 s slice, wrk with 32 connections on core 1, the server on core 0.
#
#   bench/soak.sh                    # this commit, six 10 s slices
#   BEFORE=f98c22f bench/soak.sh     # and the flagship at that commit
set -euo pipefail
cd "$(dirname "$0")/.."

SLICES=${SLICES:-6}
CONNECTIONS=${CONNECTIONS:-32}
PORT=${PORT:-18090}
WORK=$(mktemp -d /tmp/portico-soak.XXXXXX)
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

. bench/flagship.sh

for build in $BUILDS; do
  db="$WORK/$build.db"
  TOKEN=$(PORTICO_DATABASE_URL="sqlite://$db" "$WORK/users_api-$build" token --sub 1 --role user)
  cat > "$WORK/mix.lua" <<LUA
local n = 0
request = function()
  n = n + 1
  if n % 10 == 0 then
    local body = string.format('{"name":"user %d","email":"u%d@example.com","age":30}', n, n)
    return wrk.format("POST", "/users", {["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer $TOKEN"}, body)
  end
  return wrk.format("GET", "/users?page=1&page_size=20")
end
LUA
  PORTICO_ADDR="127.0.0.1:$PORT" PORTICO_DATABASE_URL="sqlite://$db" \
    taskset -c 0 "$WORK/users_api-$build" >"$WORK/server.log" 2>&1 &
  SERVER=$!
  wait_for_port "$PORT"
  rates=()
  for _ in $(seq 1 "$SLICES"); do
    rate=$(taskset -c 1 wrk -t1 -c"$CONNECTIONS" -d10s -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" |
      awk '/Requests\/sec/ {printf "%.0f", $2}')
    rates+=("$rate")
  done
  users=$(sqlite3 "$db" "SELECT COUNT(*) FROM users")
  echo "| $build | ${rates[*]} | $users users at the end |"
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=""
done
echo "SLICES=$SLICES×10s CONNECTIONS=$CONNECTIONS at $(git rev-parse --short HEAD)"
