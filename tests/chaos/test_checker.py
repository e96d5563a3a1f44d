"""The chaos checker is checked: handmade histories with a lost write, an
invented value, a stale read and clean runs are judged right, by exit status
and counts, and the timeline PNG is written."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "chaos", "checker.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def op(client, kind, key, start, end, result="ok", **fields):
    return {"type": "op", "client": client, "op": kind, "key": key, "node": "node1",
            "start_ms": start, "end_ms": end, "result": result, **fields}


def fault(name, node, start, end):
    return {"type": "nemesis", "fault": name, "node": node, "start_ms": start, "end_ms": end}


def set_history(final_values, add_results):
    """Adds of elements 1.. to key "s" with the given results, then one final read."""
    records = [{"type": "meta", "workload": "set", "seed": 7}, fault("kill", "node2", 1000, 2500)]
    for i, result in enumerate(add_results, 1):
        records.append(op(i % 2, "add", "s", 500 * i, 500 * i + 40, result, value=i))
    records.append(op("final", "final_read", "s", 9000, 9010, values=final_values))
    return records


class CheckerCase(unittest.TestCase):
    def setUp(self):
        base = os.environ.get("DYNKV_TEST_TMP") or None
        if base:
            os.makedirs(base, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="dynkv-checker-", dir=base)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def check(self, records):
        """Runs the checker on `records`; returns (exit status, counts, PNG path)."""
        path = os.path.join(self.root, "history.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        png = os.path.join(self.root, "timeline.png")
        run = subprocess.run([sys.executable, CHECKER, path, "--json", "--png", png],
                             capture_output=True, text=True, timeout=120)
        self.assertNotIn("Traceback", run.stderr)
        return run.returncode, json.loads(run.stdout), png

    def assert_png(self, png):
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), PNG_MAGIC)


class SetWorkloadTest(CheckerCase):
    def test_clean_history_passes_and_counts_unacknowledged_outcomes(self):
        status, counts, png = self.check(set_history([1, 2, 4], ["ok", "ok", "TIMEOUT", "UNAVAILABLE"]))
        self.assertEqual(status, 0)
        self.assertEqual(counts["lost"], 0)
        self.assertEqual(counts["recovered"], 1)       # element 4: failed, yet written
        self.assertEqual(counts["unacknowledged"], 1)  # element 3: failed, absent
        self.assert_png(png)

    def test_a_lost_acknowledged_add_fails(self):
        status, counts, png = self.check(set_history([1, 3], ["ok", "ok", "ok"]))
        self.assertEqual(status, 1)
        self.assertEqual(counts["lost"], 1)
        self.assert_png(png)

    def test_an_element_nobody_added_fails(self):
        status, counts, _ = self.check(set_history([1, 2, 99], ["ok", "ok"]))
        self.assertEqual(status, 1)
        self.assertEqual(counts["invented"], 1)
        self.assertEqual(counts["lost"], 0)

    def test_a_node_that_crashed_fails_the_run_even_without_loss(self):
        records = set_history([1, 2], ["ok", "ok"]) + [{"type": "crash", "node": "node3", "exit": -6, "at_ms": 4000}]
        status, counts, _ = self.check(records)
        self.assertEqual(status, 1)
        self.assertEqual(counts["crashes"], 1)
        self.assertEqual(counts["lost"], 0)

    def test_a_key_without_a_final_read_cannot_be_judged(self):
        records = [r for r in set_history([1], ["ok"]) if r.get("op") != "final_read"]
        status, counts, _ = self.check(records)
        self.assertEqual(status, 2)
        self.assertEqual(counts["unread_keys"], 1)


class RegisterWorkloadTest(CheckerCase):
    META = {"type": "meta", "workload": "register", "seed": 3}

    def test_clean_history_passes(self):
        records = [self.META,
                   op("a", "write", "r", 0, 10, value="a1"),
                   op("b", "write", "r", 5, 15, "TIMEOUT", value="b1"),
                   op("a", "read", "r", 20, 30, values=["a1", "b1"]),  # an unacknowledged write may show
                   op("b", "read", "r", 40, 50, values=["a1"])]
        status, counts, png = self.check(records)
        self.assertEqual(status, 0)
        self.assertEqual(counts["invented"], 0)
        self.assertEqual(counts["stale"], 0)
        self.assert_png(png)

    def test_an_invented_value_fails(self):
        records = [self.META,
                   op("a", "write", "r", 0, 10, value="a1"),
                   op("b", "read", "r", 20, 30, values=["a1", "zz"])]
        status, counts, _ = self.check(records)
        self.assertEqual(status, 1)
        self.assertEqual(counts["invented"], 1)

    def test_not_reading_own_write_without_faults_fails(self):
        records = [self.META,
                   op("a", "write", "r", 0, 10, value="a1"),
                   op("a", "write", "r", 20, 30, value="a2"),
                   op("a", "read", "r", 40, 50, values=["a1"])]
        status, counts, _ = self.check(records)
        self.assertEqual(status, 1)
        self.assertEqual(counts["stale"], 1)

    def test_old_value_during_a_fault_or_after_a_racing_write_is_allowed(self):
        records = [self.META, fault("pause", "node2", 100, 200),
                   op("a", "write", "r", 0, 10, value="a1"),
                   op("a", "write", "r", 90, 110, value="a2"),
                   op("a", "read", "r", 150, 160, values=["a1"]),   # inside the fault window
                   op("b", "write", "r", 300, 330, value="b1"),
                   op("a", "write", "r", 310, 320, value="a3"),
                   op("a", "read", "r", 400, 410, values=["b1"])]   # b1 raced a3
        status, counts, _ = self.check(records)
        self.assertEqual(status, 0)
        self.assertEqual(counts["stale"], 0)


class TableTest(CheckerCase):
    def test_table_shows_errors_by_code_and_availability_per_fault(self):
        path = os.path.join(self.root, "h.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in set_history([1, 2], ["ok", "ok", "TIMEOUT"]))
        run = subprocess.run([sys.executable, CHECKER, path], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("errors TIMEOUT", run.stdout)
        # Adds 2 (ok) and 3 (TIMEOUT) start inside the kill window: 50%.
        self.assertRegex(run.stdout, r"kill\s+node2\s+.*\s2\s+1\s+50%")
        self.assertTrue(os.path.exists(path + ".png"))

    def test_table_sums_availability_per_fault_kind_and_outside_faults(self):
        # Adds start at 500, 1000, ..., 3000 ms; the kill window of set_history covers 1000-2500.
        records = set_history([1, 2, 3, 4, 5, 6], ["ok"] * 5 + ["TIMEOUT"]) + [
            fault("partition", "node1|node2", 2900, 3100), fault("kill", "node4", 5500, 6000)]
        path = os.path.join(self.root, "h.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        run = subprocess.run([sys.executable, CHECKER, path], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        # kind, windows, seconds, ops started inside, ok, share
        self.assertRegex(run.stdout, r"\nkill\s+2\s+2\.0\s+4\s+4\s+100%")
        self.assertRegex(run.stdout, r"\npartition\s+1\s+0\.2\s+1\s+0\s+0%")
        self.assertRegex(run.stdout, r"\nnone\s+0\s+0\.0\s+1\s+1\s+100%")


def change(kind, node, start, end, finished=True):
    """A membership fault as the nemesis records it."""
    record = {**fault("membership", node, start, end), "change": kind, "finished": finished,
              "members": ["node1", "node2", "node3"], "steps": []}
    if not finished:
        record["failures"] = [f"not settled 180s after the change began: node1 sees {node} joining up"]
    return record


class MembershipTest(CheckerCase):
    def test_a_membership_change_that_did_not_finish_fails_the_run_even_without_loss(self):
        records = set_history([1, 2], ["ok", "ok"]) + [change("join", "node4", 3000, 4000),
                                                      change("replace", "node2", 5000, 8000, finished=False)]
        status, counts, _ = self.check(records)
        self.assertEqual(status, 1)
        self.assertEqual(counts["lost"], 0)
        self.assertEqual(counts["unfinished_changes"], 1)

    def test_finished_changes_pass_and_the_table_shows_each_kind_of_change(self):
        # Adds start at 500 ... 3000 ms; the join window 1900-3100 holds adds 4, 5 and 6.
        records = set_history([1, 2, 3, 4, 5, 6], ["ok"] * 6) + [change("join", "node4", 1900, 3100),
                                                                change("leave", "node3", 6000, 6500)]
        path = os.path.join(self.root, "h.jsonl")
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
        run = subprocess.run([sys.executable, CHECKER, path], capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertRegex(run.stdout, r"\nmembership join\s+1\s+1\.2\s+3\s+3\s+100%")
        self.assertRegex(run.stdout, r"\nmembership leave\s+1\s+0\.5\s+0\s+0\s+-")
        self.assertRegex(run.stdout, r"\nmembership\s+join node4\s")


if __name__ == "__main__":
    unittest.main()
