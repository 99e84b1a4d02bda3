#!/usr/bin/env bash
# Build cost of a generated 100-route app (generate.py), for the app crate
# only, dependencies built first: clean build, incremental rebuild after
# one handler changed, `cargo check` (clean and incremental), and with
# RELEASE=1 the release binary's size. Medians of ROUNDS (default 6).
#
#   bench/buildcost/run.sh portico|portico-schema|axum [PORTICO_DIR]
#
# PORTICO_DIR (default: this checkout) is the Portico to build against:
# a worktree of another commit gives the before/after of a change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
kind="$1"
portico="${2:-$here/../..}"
rounds="${ROUNDS:-6}"
work="${WORK:-/tmp/portico-buildcost}/$kind-$(basename "$(cd "$portico" && pwd)")"
rm -rf "$work/src"
case "$kind" in
  portico) python3 "$here/generate.py" portico "$work" --portico "$portico" ;;
  portico-schema) python3 "$here/generate.py" portico "$work" --portico "$portico" --schema ;;
  axum) python3 "$here/generate.py" axum "$work" ;;
esac
cd "$work"
export CARGO_INCREMENTAL=1
cargo build -q 2>/dev/null || cargo build
cargo check -q
crate="$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | head -1)"

now() { date +%s.%N; }
median() { python3 -c 'import sys,statistics; print(f"{statistics.median(map(float, sys.argv[1:])):.2f}")' "$@"; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; python3 -c "print($(now) - $t0)"; }

edit() { # a change inside one handler's body (a list's default limit)
  if grep -q "unwrap_or(20)" src/m3.rs; then
    sed -i "0,/unwrap_or(20)/s//unwrap_or(21)/" src/m3.rs
  else
    sed -i "0,/unwrap_or(21)/s//unwrap_or(20)/" src/m3.rs
  fi
}

clean=() incr=() check=() icheck=()
for _ in $(seq "$rounds"); do
  cargo clean -q -p "$crate"
  clean+=("$(timed cargo build -q)")
  edit
  incr+=("$(timed cargo build -q)")
  cargo clean -q -p "$crate"
  check+=("$(timed cargo check -q)")
  edit
  icheck+=("$(timed cargo check -q)")
done
size=-
if [ "${RELEASE:-0}" = 1 ]; then
  cargo build -q --release
  size=$(stat -c %s "target/release/$crate")
fi
printf '%s\tclean %ss\tincremental %ss\tcheck %ss\tincremental check %ss\trelease binary %s bytes\n' \
  "$kind@$(cd "$portico" && git rev-parse --short HEAD 2>/dev/null || echo -)" \
  "$(median "${clean[@]}")" "$(median "${incr[@]}")" "$(median "${check[@]}")" "$(median "${icheck[@]}")" "$size"
