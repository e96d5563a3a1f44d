#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole default test suite
# (unit, in-process and integration tests). Ends with one summary line:
#   tests: N passed, N failed
# Extra arguments go to `meson test` (e.g. a suite name: --suite unit).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/build.sh

status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?

/usr/bin/python3 - build/meson-logs/testlog.json <<'PY'
import json, sys
passed = failed = skipped = 0
with open(sys.argv[1]) as f:
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
