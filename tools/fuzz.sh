#!/usr/bin/env bash
# Runs the libFuzzer targets (tests/fuzz; docs/FUZZING.md).
#   tools/fuzz.sh [--time S | --runs N] [TARGET...] [-- LIBFUZZER_FLAG...]
#   tools/fuzz.sh --build-only
# Configures build-fuzz (clang, -Dfuzz=true) when it is missing, builds
# the targets, then runs each in turn from tests/fuzz/corpus/<target> for S
# seconds (default 60) or N executions, and prints one line per target:
# its executions and result. TARGETs: frame client peer record hint
# context gossip config (default: all). Exits non-zero when a target
# crashed; its input is kept in build-fuzz/tests/fuzz/crashes/ (replay it:
# build-fuzz/tests/fuzz/fuzz-TARGET FILE). Long runs: nice -n 19.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(frame client peer record hint context gossip config)
limit=(-max_total_time=60)
build_only=0
targets=()
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --time) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *)
      if [[ " ${all[*]} " != *" $1 "* ]]; then
        echo "fuzz.sh: unknown target $1 (targets: ${all[*]})" >&2
        exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if [ ! -f build-fuzz/build.ninja ]; then
  compiler_prefix=""
  command -v ccache >/dev/null && compiler_prefix="ccache "
  CC="${compiler_prefix}clang" CXX="${compiler_prefix}clang++" \
    meson setup build-fuzz -Dfuzz=true -Dplanted_bugs=false --buildtype=debugoptimized >/dev/null
fi
if [ "$build_only" -eq 1 ]; then
  meson compile -C build-fuzz
  exit 0
fi
meson compile -C build-fuzz "${targets[@]/#/fuzz-}" >/dev/null

export FUZZ_ARTIFACTS="$PWD/build-fuzz/tests/fuzz/crashes"
crashed=0
for target in "${targets[@]}"; do
  bash tests/fuzz/run_target.sh "build-fuzz/tests/fuzz/fuzz-$target" "tests/fuzz/corpus/$target" \
    "${limit[@]}" "${extra[@]}" || crashed=$((crashed + 1))
done
# A target stopped by a signal (Ctrl-C) counts here too: its own line says
# "interrupted ..., no crash" or "CRASH".
echo "fuzz: ${#targets[@]} targets, $crashed crashed or interrupted"
[ "$crashed" -eq 0 ]
