# Sourced by run.sh and instructions.sh: reads their arguments, the kinds
# of app to build (portico, portico-schema, axum) into `kinds` and the
# Portico checkout to build against into `portico` (default: this one).
kinds=()
portico="$here/../.."
for arg in "$@"; do
  case "$arg" in
    portico|portico-schema|axum) kinds+=("$arg") ;;
    *) portico="$arg" ;;
  esac
done
[ "${#kinds[@]}" -gt 0 ] || { echo "usage: $(basename "$0") portico|portico-schema|axum … [PORTICO_DIR]" >&2; exit 2; }
