#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole default test suite
# (unit, in-process and integration tests, and a bounded run of each fuzz
# target from its corpus in build-fuzz). Ends with one summary line:
#   tests: N passed, N failed
# Extra arguments go to `meson test` (e.g. a suite name: --suite unit); the
# fuzz targets then are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh

status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?
logs=(build/meson-logs/testlog.json)

# The fuzz targets: a clang build of their own (tools/fuzz.sh), suite fuzz.
if [ $# -eq 0 ]; then
  bash tools/fuzz.sh --build-only
  meson test -C build-fuzz --print-errorlogs --num-processes 2 --suite fuzz || status=$?
  logs+=(build-fuzz/meson-logs/testlog.json)
fi

/usr/bin/python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    with open(log) as f:
        for line in f:
            result = json.loads(line).get("result")
            if result in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
