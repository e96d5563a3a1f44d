#!/usr/bin/env bash
# Runs one libFuzzer target from its committed corpus and prints one line:
#   fuzz-NAME: N executions (E exec/s), no crash
# or, when it crashed (exit status non-zero), where the input is kept and
# the end of the fuzzer's log.
#   run_target.sh BINARY CORPUS_DIR [LIBFUZZER_FLAG...]
# New inputs the fuzzer finds go to a scratch folder, never into CORPUS_DIR;
# crash inputs to $FUZZ_ARTIFACTS (default ./fuzz-crashes). Each run has
# its own TMPDIR (the client and peer targets keep a node's data dir there).
set -uo pipefail
binary=$1 corpus=$2
shift 2
name=$(basename "$binary")
artifacts=${FUZZ_ARTIFACTS:-$PWD/fuzz-crashes}
mkdir -p "$artifacts"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/corpus" "$scratch/tmp"

# The client and peer targets keep one node across inputs (fuzz_node.h), so
# the heap grows from input to input by design and libFuzzer's leak check
# after each such input (LeakSanitizer scanning the whole heap) found
# nothing but took two thirds of the time; it is off for them during the
# run (-detect_leaks=0; LeakSanitizer still checks once at exit). A later
# -detect_leaks=1 in the arguments turns it back on.
own=()
case $name in fuzz-client|fuzz-peer) own=(-detect_leaks=0) ;; esac

# -timeout: an input that runs longer is a hang, reported like a crash (wall
# clock: generous, as a run at nice 19 on a busy machine gets little CPU).
TMPDIR="$scratch/tmp" "$binary" -artifact_prefix="$artifacts/$name-" -print_final_stats=1 -timeout=300 \
  "${own[@]}" "$@" "$scratch/corpus" "$corpus" >"$scratch/log" 2>&1
rc=$?

stat() { sed -n "s/^stat::$1: *//p" "$scratch/log" | tail -1; }
runs=$(stat number_of_executed_units)
speed=$(stat average_exec_per_sec)
if [ "$rc" -eq 0 ]; then
  echo "$name: ${runs:-?} executions (${speed:-?} exec/s), no crash"
  exit 0
fi
if grep -q "libFuzzer: run interrupted" "$scratch/log"; then
  echo "$name: interrupted after ${runs:-?} executions (${speed:-?} exec/s), no crash"
  exit "$rc"
fi
kept=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$scratch/log" | tail -1)
echo "$name: CRASH after ${runs:-?} executions (exit $rc); input kept: ${kept:-none}"
tail -n 60 "$scratch/log"
exit "$rc"
