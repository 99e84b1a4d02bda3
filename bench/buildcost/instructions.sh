#!/usr/bin/env bash
# The build cost of the generated 100-route app (generate.py) in
# instructions rather than seconds: the app crate's rustc run under
# callgrind (proc macros included: they run inside it; every codegen
# thread summed) for `cargo check` after `cargo clean -p`, the
# incremental `cargo check` after one handler's body changed, Cargo's own
# work on every call (the cargo process of a `cargo check` with nothing
# changed: reading the lock file and the registry index for every
# package of the dependency graph, and the fingerprints; it comes on top
# of rustc's figures in each command), and with BUILD=1 the first two
# for `cargo build` (clean, and after the edit).
# Unlike wall-clock times, which drift ±20 % here between minutes, the
# counts repeat to within a few parts per thousand.
#
#   bench/buildcost/instructions.sh portico axum [PORTICO_DIR]
#   kinds: portico, portico-schema, axum, and the Portico app taken
#   apart (generate.py --routes): portico-noroute, portico-written,
#   portico-inline
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
. "$here/common.sh"
export CARGO_INCREMENTAL=1
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# A rustc wrapper that runs only the app crate's compile under callgrind.
cat > "$tmp/wrap" <<'WRAP'
#!/usr/bin/env bash
rustc="$1"; shift
for arg in "$@"; do
  if [ "$arg" = "$APP_CRATE" ]; then
    exec valgrind --tool=callgrind -q --callgrind-out-file="$CALLGRIND_OUT" "$rustc" "$@"
  fi
done
exec "$rustc" "$@"
WRAP
chmod +x "$tmp/wrap"
measured() { # runs cargo "$@" with the app's rustc counted; prints its instructions
  rm -f "$tmp/out"
  RUSTC_WRAPPER="$tmp/wrap" CALLGRIND_OUT="$tmp/out" cargo "$@" >/dev/null 2>&1
  total "$tmp/out"
}
total() { callgrind_annotate "$1" | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,; }
# Cargo itself, not rustup's proxy in front of it (which would exec it).
cargo_bin="$(rustup which cargo 2>/dev/null || command -v cargo)"
cargo_own() { # Cargo's instructions for a `cargo check` with nothing to do
  rm -f "$tmp/cargo"
  valgrind --tool=callgrind -q --callgrind-out-file="$tmp/cargo" "$cargo_bin" check -q --offline >/dev/null 2>&1
  total "$tmp/cargo"
}
if [ "${BUILD:-0}" = 1 ]; then
  printf "kind\tcheck (M instructions)\tincremental check\tCargo's own\tclean build\tincremental build\n"
else
  printf "kind\tcheck (M instructions)\tincremental check\tCargo's own\n"
fi
for kind in "${kinds[@]}"; do
  work="$(dir_of "$kind")"
  generate "$kind"
  cd "$work"
  export APP_CRATE
  APP_CRATE="$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | head -1)"
  cargo check -q
  cargo clean -q -p "$APP_CRATE"
  check=$(measured check -q)
  edit
  icheck=$(measured check -q)
  cargo=$(cargo_own)
  if [ "${BUILD:-0}" != 1 ]; then
    printf "%s\t%d\t%d\t%d\n" "$kind" $((check / 1000000)) $((icheck / 1000000)) $((cargo / 1000000))
    continue
  fi
  cargo build -q
  cargo clean -q -p "$APP_CRATE"
  build=$(measured build -q)
  edit
  ibuild=$(measured build -q)
  printf "%s\t%d\t%d\t%d\t%d\t%d\n" "$kind" $((check / 1000000)) $((icheck / 1000000)) \
    $((cargo / 1000000)) $((build / 1000000)) $((ibuild / 1000000))
done
