# Shared by scripts/codec_insns.sh and scripts/frontend_insns.sh (sourced):
# `insns_bin NAME` builds the bench crate's binary NAME in release and sets
# `bin`; `refs ARGS...` runs it under cachegrind and prints the
# instructions executed. Needs valgrind.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
insns_bin() {
  cargo build -q --release -p iommu-inval-bench --bin "$1"
  bin="${CARGO_TARGET_DIR:-target}/release/$1"
}
refs() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$@" 2>&1 \
    | sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}
