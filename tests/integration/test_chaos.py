"""A short seeded chaos run in the default suite (issue 5): 5 real nodes in
siblings mode, the set workload under kill -9 and SIGSTOP faults; the checker
must find zero lost acknowledged adds and nothing invented."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "chaos", "run")
CHECKER = os.path.join(os.path.dirname(RUN), "checker.py")
SEED = 7


class ChaosRunTest(unittest.TestCase):
    def setUp(self):
        base = os.environ.get("DYNKV_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.out = tempfile.mkdtemp(prefix="dynkv-chaos-test-", dir=base)

    def tearDown(self):
        shutil.rmtree(self.out, ignore_errors=True)

    def test_set_workload_under_kill_and_pause_loses_no_acknowledged_add(self):
        run = subprocess.run([sys.executable, RUN, "--nemesis", "kill,pause", "--time", "40", "--seed", str(SEED),
                              "--nodes", "5", "--workload", "set", "--out", self.out],
                             capture_output=True, text=True, timeout=240)
        report = f"seed {SEED}\n{run.stdout}\n{run.stderr}"
        self.assertEqual(run.returncode, 0, report)
        verdict = subprocess.run([sys.executable, CHECKER, os.path.join(self.out, "history.jsonl"), "--json",
                                  "--png", os.path.join(self.out, "again.png")],
                                 capture_output=True, text=True, timeout=120)
        counts = json.loads(verdict.stdout)
        self.assertEqual(counts["lost"], 0, report)
        self.assertEqual(counts["invented"], 0, report)
        with open(os.path.join(self.out, "history.jsonl")) as f:
            records = [json.loads(line) for line in f]
        self.assertTrue(any(r["type"] == "nemesis" for r in records), "faults were injected")
        self.assertGreater(sum(1 for r in records if r.get("op") == "add" and r["result"] == "ok"), 100, report)


if __name__ == "__main__":
    unittest.main()
