# Sourced by bench/listing.sh and bench/soak.sh: builds the flagship
# (release) into $WORK/users_api-now and, with BEFORE=<commit>, the
# flagship at that commit into $WORK/users_api-before; sets BUILDS to the
# builds made, and the environment both benchmarks run the flagship with
# (no rate limit in the way, warnings only), and `wait_for_port`.
# Expects $WORK and the repository root as the working directory.

. bench/lib.sh

echo "== building the flagship (release)"
cargo build --release --quiet --example users_api
cp target/release/examples/users_api "$WORK/users_api-now"
BUILDS="now"
if [ -n "${BEFORE:-}" ]; then
  git worktree add -q --detach "$WORK/before-src" "$BEFORE"
  # The same target directory: the dependencies are built once.
  (cd "$WORK/before-src" && CARGO_TARGET_DIR="$OLDPWD/target" cargo build --release --quiet --example users_api)
  cp target/release/examples/users_api "$WORK/users_api-before"
  git worktree remove --force "$WORK/before-src"
  # The shared target now holds the other build's artifacts.
  touch macros/src/lib.rs runtime/src/lib.rs src/lib.rs
  BUILDS="before now"
fi

export PORTICO_JWT_SECRET="a benchmark's secret, 32 bytes or more, not for production"
export PORTICO_RATE_CAPACITY=1000000000 PORTICO_RATE_REFILL_PER_SEC=1000000000
export RUST_LOG=warn
