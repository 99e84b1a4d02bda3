# Sourced by the load scripts under bench/.

# Waits up to 20 s for something to listen on 127.0.0.1:$1.
wait_for_port() {
  for _ in $(seq 1 400); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# Installs Debian's package $2 when command $1 is missing.
need() {
  command -v "$1" >/dev/null && return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q && apt-get install -y -q "$2"
}

# Builds bench/load (its own workspace: the servers and the rate client);
# sets BIN to where they are and TOKEN to scenario (e)'s bearer token.
build_load() {
  echo "== building the load-test servers (release)"
  (cd load && cargo build --release --quiet)
  BIN=load/target/release
  TOKEN=$("$BIN/load-portico" --print-token)
}
