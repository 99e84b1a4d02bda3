# Sourced by run.sh and instructions.sh: their arguments (the kinds of
# app to build, into `kinds`; the Portico checkout to build against,
# into `portico`, default this one) and the steps both take.
kinds=()
portico="$here/../.."
for arg in "$@"; do
  case "$arg" in
    portico|portico-schema|portico-noroute|portico-written|portico-inline|axum) kinds+=("$arg") ;;
    *) portico="$arg" ;;
  esac
done
[ "${#kinds[@]}" -gt 0 ] || { echo "usage: $(basename "$0") portico|portico-schema|portico-noroute|portico-written|portico-inline|axum … [PORTICO_DIR]" >&2; exit 2; }

dir_of() { # the generated app's directory for a kind
  echo "${WORK:-/tmp/portico-buildcost}/$1-$(basename "$(cd "$portico" && pwd)")"
}
generate() { # writes a kind's app into its directory (its target/ kept)
  local work
  work="$(dir_of "$1")"
  rm -rf "$work/src"
  case "$1" in
    portico) python3 "$here/generate.py" portico "$work" --portico "$portico" ;;
    portico-schema) python3 "$here/generate.py" portico "$work" --portico "$portico" --schema ;;
    portico-noroute) python3 "$here/generate.py" portico "$work" --portico "$portico" --routes none ;;
    portico-written) python3 "$here/generate.py" portico "$work" --portico "$portico" --routes written ;;
    portico-inline) python3 "$here/generate.py" portico "$work" --portico "$portico" --routes inline ;;
    axum) python3 "$here/generate.py" axum "$work" ;;
  esac
}
edit() { # a change inside one handler's body (a list's default limit), in the app's directory
  if grep -q "unwrap_or(20)" src/m3.rs; then
    sed -i "0,/unwrap_or(20)/s//unwrap_or(21)/" src/m3.rs
  else
    sed -i "0,/unwrap_or(21)/s//unwrap_or(20)/" src/m3.rs
  fi
}
