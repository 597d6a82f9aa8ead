#!/bin/bash -eu
# ClusterFuzzLite / OSS-Fuzz build: every cargo-fuzz target of fuzz/ into
# $OUT, each with its committed seeds as $OUT/<target>_seed_corpus.zip and
# the libFuzzer options scripts/fuzz.sh uses as $OUT/<target>.options.
#
# The engine's environment gives SRC (this checkout is $SRC/iommu-inval),
# OUT and SANITIZER; in the builder image cargo-fuzz supplies the sanitizer
# (address) and the image's cargo wrapper the coverage flags. SANITIZER=none
# builds without one (`-s none`, as scripts/fuzz.sh does): that is how
# scripts/cfl_check.sh runs this script on a machine without the image.
repo="$SRC/iommu-inval"
cd "$repo/fuzz"

flags=(-O --debug-assertions)
if [ "${SANITIZER:-address}" = none ]; then
  flags+=(--sanitizer none)
fi
cargo fuzz build "${flags[@]}"
# The slow targets again without comparison tracing (scripts/fuzz.sh
# build_opts): the binaries copied below are these.
for t in cli_input lower_lift convert; do
  cargo fuzz build "${flags[@]}" --no-trace-compares "$t"
done

triple="$(rustc -vV | sed -n 's/^host: //p')"
bin="$repo/fuzz/target/$triple/release"
for t in $(cargo fuzz list); do
  cp "$bin/$t" "$OUT/$t"
  printf '[libfuzzer]\nmax_len = 4096\ntimeout = 10\nrss_limit_mb = 2048\n' > "$OUT/$t.options"
  # The slow targets without the Entropic schedule (scripts/fuzz.sh engine_opts).
  case "$t" in cli_input|lower_lift|convert) echo 'entropic = 0' >> "$OUT/$t.options" ;; esac
  # Two of them without hit-count buckets (scripts/fuzz.sh engine_opts).
  case "$t" in cli_input|convert) echo 'use_counters = 0' >> "$OUT/$t.options" ;; esac
  seeds="$repo/fuzz/corpus/$t"
  if [ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ]; then
    rm -f "$OUT/${t}_seed_corpus.zip"
    (cd "$seeds" && zip -q -r "$OUT/${t}_seed_corpus.zip" . -x '.*')
  fi
done
