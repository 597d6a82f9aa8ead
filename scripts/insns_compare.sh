#!/usr/bin/env bash
# Instruction counts (cachegrind) of two commits side by side, in one run on
# one machine: the codec loop (decode + encode, and the checked copy, per
# command of each queue: bench/src/bin/codec_loop.rs), lift + lower per
# command through the facade (`convert`, each architecture to itself and
# some cross pairs) and the four queue front ends per command
# (bench/src/bin/insns_loop.rs). Instruction counts do not depend on the
# machine's load, unlike wall time on a shared machine.
#
# Each commit is built from its own tree in a detached worktree under
# target/insns-compare/ (its own CARGO_TARGET_DIR, release). insns_loop.rs is
# copied from this tree into both, with a dependency of the bench crate on
# the facade added where the commit lacks one; a commit whose guest-memory
# trait is still `GuestMemory` is built with RUSTFLAGS="--cfg insns_old".
# Per command = (count at the long run - count at the short run) / (the
# commands between them), so setup does not count.
#
#   scripts/insns_compare.sh 8a759f6           # that commit against HEAD
#   scripts/insns_compare.sh OLD NEW
#
# Needs cargo, git, python3 and valgrind. Prints one Markdown table.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
OLD="${1:?usage: scripts/insns_compare.sh OLD [NEW]}"
NEW="${2:-HEAD}"
WORK="${WORK:-$PWD/target/insns-compare}"
DRIVER="$PWD/bench/src/bin/insns_loop.rs"
mkdir -p "$WORK"

side() { # name rev: a detached worktree of rev with the driver, built
    local dir="$WORK/$1" rev flags="" facade
    rev="$(git rev-parse --verify "$2^{commit}")"
    # Kept when it already holds that commit (cargo then rebuilds little);
    # its only changes are the ones made here.
    if [ "$(git -C "$dir" rev-parse HEAD 2>/dev/null)" != "$rev" ]; then
        if [ -e "$dir" ]; then git worktree remove --force "$dir" 2>/dev/null || rm -rf "$dir"; fi
        git worktree prune
        git worktree add -q --detach "$dir" "$rev"
    fi
    echo "insns_compare.sh: $1 = $(git -C "$dir" log -1 --format='%h %ad %s' --date=short | cut -c1-80)" >&2
    cmp -s "$DRIVER" "$dir/bench/src/bin/insns_loop.rs" || cp "$DRIVER" "$dir/bench/src/bin/insns_loop.rs"
    if ! grep -Eq '^iommu-inval *(=|\.workspace)' "$dir/bench/Cargo.toml"; then
        # The facade: the member whose package (its first `name`) is iommu-inval.
        facade="$(cd "$dir" && for f in */Cargo.toml; do
            if [ "$(grep -m1 '^name = ' "$f")" = 'name = "iommu-inval"' ]; then dirname "$f"; fi; done)"
        [ -n "$facade" ] || { echo "insns_compare.sh: no iommu-inval package at $2" >&2; exit 1; }
        sed -i "s|^\\(iommu-inval-iommufd = .*\\)\$|\\1\\niommu-inval = { path = \"../$facade\" }|" "$dir/bench/Cargo.toml"
    fi
    if grep -q 'pub trait GuestMemory' "$dir/core/src/queue.rs" 2>/dev/null; then
        flags="--cfg insns_old"
    fi
    (cd "$dir" && RUSTFLAGS="$flags" CARGO_TARGET_DIR="$WORK/target-$1" \
        cargo build -q --release -p iommu-inval-bench --bin codec_loop --bin insns_loop >&2)
    git -C "$dir" rev-parse --short HEAD >"$WORK/$1.rev"
}
side old "$OLD"
side new "$NEW"

refs() { # side bin args...: instructions executed
    local s="$1" bin="$2"
    shift 2
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null \
        "$WORK/target-$s/release/$bin" "$@" 2>"$WORK/vg.err" >>"$WORK/$s.out" || {
        echo "insns_compare.sh: $s $bin $* failed:" >&2
        tail -5 "$WORK/vg.err" >&2
        exit 1
    }
    sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' "$WORK/vg.err" | tr -d ,
}

: >"$WORK/rows.txt"
: >"$WORK/old.out"
: >"$WORK/new.out"
row() { # label commands-between bin short-args -- long-args
    local label="$1" n="$2" bin="$3" s lo hi
    shift 3
    local short=() long=()
    while [ "$1" != "--" ]; do short+=("$1"); shift; done
    shift
    long=("$@")
    local line="$label|$n"
    for s in old new; do
        echo "  $s: $label" >&2
        lo=$(refs "$s" "$bin" "${short[@]}")
        hi=$(refs "$s" "$bin" "${long[@]}")
        line="$line|$lo|$hi"
    done
    echo "$line" >>"$WORK/rows.txt"
}

for q in smmuv3 vtd vtd256 amd riscv; do
    row "codec decode + encode, $q" $((200 * 4096)) codec_loop "$q" 50 -- "$q" 250
done
for q in smmuv3 vtd vtd256 amd riscv; do
    row "codec checked copy, $q" $((200 * 4096)) codec_loop "$q" 50 copy -- "$q" 250 copy
done
for pair in smmuv3:smmuv3 vtd:vtd amd:amd riscv:riscv smmuv3:vtd vtd:smmuv3 amd:riscv riscv:smmuv3 smmuv3:amd; do
    from="${pair%:*}" to="${pair#*:}"
    row "lift + lower, $from → $to" $((2 * 4095)) insns_loop convert "$from" "$to" 1 -- convert "$from" "$to" 3
done
for q in smmuv3 vtd amd riscv; do
    row "front end, $q" $((2 * 4095)) insns_loop device "$q" 1 -- device "$q" 3
done

# The same work at both commits: the loops report what they did.
if ! diff -q "$WORK/old.out" "$WORK/new.out" >/dev/null; then
    echo "insns_compare.sh: the two commits' loops report different work:" >&2
    diff "$WORK/old.out" "$WORK/new.out" >&2 || true
fi

python3 - "$WORK" <<'PY'
import sys
work = sys.argv[1]
old, new = (open(f"{work}/{s}.rev").read().strip() for s in ("old", "new"))
print(f"| instructions per command | OLD {old} | NEW {new} | change |")
print("|---|---|---|---|")
for line in open(f"{work}/rows.txt"):
    label, n, olo, ohi, nlo, nhi = line.rstrip("\n").split("|")
    n = int(n)
    o = (int(ohi) - int(olo)) / n
    w = (int(nhi) - int(nlo)) / n
    print(f"| {label} | {o:.1f} | {w:.1f} | {(w / o - 1) * 100:+.1f}% |")
PY
