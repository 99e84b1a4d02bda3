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
