#!/usr/bin/env bash
# Build cost of a generated 100-route app (generate.py), for the app crate
# only, dependencies built first: clean build, incremental rebuild after
# one handler changed, `cargo check` (clean and incremental), `cargo
# check` with nothing changed (Cargo's own work on every call, which the
# two checks include), and with RELEASE=1 the release binary's size.
# Several kinds are measured in alternation, round by round, so that the
# machine's drift (±20 % here between minutes) hits them alike; medians
# of ROUNDS (default 6), and for each kind after the first its median
# ratio to the first, taken round by round. RELEASE=1 then prints each
# app's release binary, as built and stripped (ROUNDS=0 for the sizes
# alone).
#
#   bench/buildcost/run.sh portico axum [PORTICO_DIR]
#   kinds: portico, portico-schema, axum, and the Portico app taken
#   apart (generate.py --routes): portico-noroute, portico-written,
#   portico-inline
#
# PORTICO_DIR (default: this checkout) is the Portico to build against:
# a worktree of another commit gives the before/after of a change.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/common.sh"
rounds="${ROUNDS:-6}"
export CARGO_INCREMENTAL=1
out="$(mktemp)"
trap 'rm -f "$out" "$out.stripped"' EXIT

for kind in "${kinds[@]}"; do
  work="$(dir_of "$kind")"
  generate "$kind"
  (cd "$work" && { cargo build -q 2>/dev/null || cargo build; } && cargo check -q)
done

now() { date +%s.%N; }
timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1; python3 -c "print($(now) - $t0)"; }

for round in $(seq "$rounds"); do
  for kind in "${kinds[@]}"; do
    cd "$(dir_of "$kind")"
    crate="$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | head -1)"
    cargo clean -q -p "$crate"
    clean=$(timed cargo build -q)
    edit
    incr=$(timed cargo build -q)
    cargo clean -q -p "$crate"
    check=$(timed cargo check -q)
    edit
    icheck=$(timed cargo check -q)
    noop=$(timed cargo check -q)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$kind" "$clean" "$incr" "$check" "$icheck" "$noop" >> "$out"
  done
done

[ "$rounds" -gt 0 ] && python3 - "$out" "${kinds[@]}" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
kinds = sys.argv[2:]
names = ["clean", "incremental", "check", "incremental check", "no-op check"]
by = {(r[0], r[1]): [float(x) for x in r[2:]] for r in rows}
rounds = sorted({r[0] for r in rows})
for kind in kinds:
    figures = [statistics.median(by[(n, kind)][i] for n in rounds) for i in range(5)]
    line = "\t".join(f"{name} {v:.2f}s" for name, v in zip(names, figures))
    if kind != kinds[0]:
        ratios = [statistics.median(by[(n, kind)][i] / by[(n, kinds[0])][i] for n in rounds) for i in range(5)]
        line += "\t÷ " + kinds[0] + ": " + " / ".join(f"{r:.2f}" for r in ratios)
    print(f"{kind}\t{line}")
PY
if [ "${RELEASE:-0}" = 1 ]; then
  for kind in "${kinds[@]}"; do
    cd "$(dir_of "$kind")"
    crate="$(sed -n 's/^name = "\(.*\)"/\1/p' Cargo.toml | head -1)"
    cargo build -q --release
    strip -o "$out.stripped" "target/release/$crate"
    echo "$kind release binary: $(stat -c %s "target/release/$crate") bytes, $(stat -c %s "$out.stripped") stripped"
  done
fi
