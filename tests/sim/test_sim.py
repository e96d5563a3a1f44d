"""dynkv-sim through its command line, the public contract of tools/sim/main.cc:
the CI sweep, determinism of the trace, the checker failing when it should
(last-write-wins and the planted replica bug), --json, and bad arguments.

Paths come from the environment that meson test sets: DYNKV_BUILD_ROOT (the
build directory) and DYNKV_SIM_PLANTED=1 when dynkv-sim-planted is built
(meson option planted_bugs).
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import unittest

BUILD_ROOT = os.environ.get("DYNKV_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SIM_DIR = os.path.join(BUILD_ROOT, "tools", "sim")
SIM = os.path.join(SIM_DIR, "dynkv-sim")
SIM_PLANTED = os.path.join(SIM_DIR, "dynkv-sim-planted")
HAVE_PLANTED = os.environ.get("DYNKV_SIM_PLANTED") == "1"

ALL_FAULTS = "kill,pause,partition,drop,clock"
DEFAULT_OPS = 2000
# The CI sweep takes about two minutes on two cores; the bound is for a hung
# run, not a slow one.
SWEEP_TIMEOUT_S = 600
SHORT_TIMEOUT_S = 120

LINE = re.compile(
    r"^seed (?P<seed>\d+): (?P<verdict>ok|FAIL) ops=(?P<ops>\d+) acked=(?P<acked>\d+) "
    r"lost=(?P<lost>\d+) invented=(?P<invented>\d+) trace=(?P<trace>[0-9a-f]{16})"
    r"(?: throughput=(?P<throughput>[0-9.]+))?$")  # the ratio only with --min-throughput
JSON_FIELDS = {"seed", "ok", "ops", "acked", "lost", "invented", "stale", "trace"}
# "<simulated seconds>.<ms> <event>"
TRACE_LINE = re.compile(r"^(\d+)\.(\d{3}) (\S.*)$")


def parse_lines(test, stdout):
    """Every stdout line as a dict of the line format's fields; fails on any other line."""
    parsed = []
    for line in stdout.splitlines():
        m = LINE.match(line)
        test.assertIsNotNone(m, f"not a seed line: {line!r}")
        d = m.groupdict()
        parsed.append({
            "line": line, "seed": int(d["seed"]), "ok": d["verdict"] == "ok", "ops": int(d["ops"]),
            "acked": int(d["acked"]), "lost": int(d["lost"]), "invented": int(d["invented"]), "trace": d["trace"],
        })
    return parsed


def replay_lines(stderr):
    return [line[len("replay:"):].strip() for line in stderr.splitlines() if line.startswith("replay:")]


class SimTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(os.access(SIM, os.X_OK), f"{SIM} is not built")
        # The runs' LevelDB dirs go under TMPDIR; a private one shows they are removed.
        self.tmp = tempfile.TemporaryDirectory(prefix="dynkv-sim-test-")
        self.addCleanup(self.tmp.cleanup)
        self.started = time.monotonic()

    def tearDown(self):
        sys.stderr.write(f"[{time.monotonic() - self.started:.1f} s] ")
        sys.stderr.flush()

    def sim(self, *args, binary=SIM, timeout=SHORT_TIMEOUT_S, cwd=None):
        env = dict(os.environ, TMPDIR=self.tmp.name)
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd or self.tmp.name, env=env)

    def leftover_run_dirs(self):
        return [n for n in os.listdir(self.tmp.name) if n.startswith("dynkv-sim-")]

    def assert_sweep_passed(self, proc, first, last):
        self.assertEqual(proc.returncode, 0, f"sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        runs = parse_lines(self, proc.stdout)
        self.assertEqual([r["seed"] for r in runs], list(range(first, last + 1)))
        for r in runs:
            self.assertTrue(r["ok"], r["line"])
            self.assertEqual((r["lost"], r["invented"]), (0, 0), r["line"])
            self.assertEqual(r["ops"], DEFAULT_OPS, r["line"])
            self.assertTrue(0 < r["acked"] <= r["ops"], r["line"])
        # Seeds drive the runs: no two seeds make the same run.
        self.assertEqual(len({r["trace"] for r in runs}), len(runs))
        self.assertEqual(replay_lines(proc.stderr), [])
        return runs

    def test_ci_sweep_all_faults(self):
        started = time.monotonic()
        proc = self.sim("--seeds", "1-200", "--faults", ALL_FAULTS, timeout=SWEEP_TIMEOUT_S)
        wall = time.monotonic() - started
        summary = [line for line in proc.stderr.splitlines() if line.startswith("dynkv-sim:")]
        sys.stderr.write(f"\n  CI sweep: 200 seeds, all faults, {wall:.1f} s wall; {' '.join(summary)}\n  ")
        self.assert_sweep_passed(proc, 1, 200)
        self.assertEqual(self.leftover_run_dirs(), [])

    def test_ci_sweep_membership(self):
        # Joins, leaves, removes and replacements mixed with kills, pauses and
        # partitions (DESIGN.md: Data movement); the set workload's cold keys
        # are written once, so only data movement keeps them.
        faults = "membership,kill,pause,partition"
        started = time.monotonic()
        proc = self.sim("--seeds", "1-60", "--faults", faults, timeout=SWEEP_TIMEOUT_S)
        wall = time.monotonic() - started
        sys.stderr.write(f"\n  CI sweep: 60 seeds, {faults}, {wall:.1f} s wall\n  ")
        self.assert_sweep_passed(proc, 1, 60)
        self.assertEqual(self.leftover_run_dirs(), [])

    def test_ci_sweep_racks_and_datacenters(self):
        # Replicas placed by racks (distinct racks per key), and per
        # datacenter (each keeps its count): joins, leaves and removals move
        # data to where that placement wants it, and stand-ins come from the
        # down replica's datacenter.
        for placement in (("--racks", "3"), ("--datacenters", "2", "--racks", "2")):
            with self.subTest(placement=placement):
                faults = "membership,kill,pause,partition"
                started = time.monotonic()
                proc = self.sim("--seeds", "1-30", "--faults", faults, *placement, timeout=SWEEP_TIMEOUT_S)
                wall = time.monotonic() - started
                sys.stderr.write(f"\n  CI sweep: 30 seeds, {faults}, {' '.join(placement)}, {wall:.1f} s wall\n  ")
                self.assert_sweep_passed(proc, 1, 30)
        # The placement is used: the same seed runs differently with racks.
        plain = self.sim("--seed", "5", timeout=SWEEP_TIMEOUT_S)
        racked = self.sim("--seed", "5", "--racks", "3", timeout=SWEEP_TIMEOUT_S)
        trace = lambda proc: re.search(r"trace=([0-9a-f]+)", proc.stdout).group(1)
        self.assertNotEqual(trace(plain), trace(racked))

    def test_ci_sweep_anti_entropy_with_hints_off(self):
        # Hints off, so a replica that missed a write gets it only from read
        # repair or anti-entropy; 2,000 keys, so most are written once and
        # never read again before the end. Each run must lose nothing and end
        # with every replica's hash tree equal to the others'.
        args = ("--faults", ALL_FAULTS, "--hints", "off", "--keys", "2000")
        started = time.monotonic()
        proc = self.sim("--seeds", "1-40", *args, "--anti-entropy", "5000", timeout=SWEEP_TIMEOUT_S)
        wall = time.monotonic() - started
        sys.stderr.write(f"\n  CI sweep: 40 seeds, hints off, anti-entropy every 5 s, {wall:.1f} s wall\n  ")
        self.assert_sweep_passed(proc, 1, 40)
        # The check can fail: with exchanges an hour apart the trees still differ.
        rare = self.sim("--seed", "1", *args, "--anti-entropy", "3600000", timeout=SWEEP_TIMEOUT_S)
        self.assertEqual(rare.returncode, 1, rare.stdout + rare.stderr)
        self.assertIn("hash trees still differ", rare.stdout + rare.stderr)

    def test_ci_sweep_gray_failures(self):
        # Slow nodes (every message delayed 50-400 ms), stalled storage
        # threads and pauses: nothing lost, and in every second of such a
        # window the other nodes keep at least 70% of their rate before it.
        args = ("--faults", "slow,stall,pause")
        started = time.monotonic()
        proc = self.sim("--seeds", "1-40", *args, "--min-throughput", "0.7", timeout=SWEEP_TIMEOUT_S)
        wall = time.monotonic() - started
        sys.stderr.write(f"\n  CI sweep: 40 seeds, slow,stall,pause, throughput >= 0.7, {wall:.1f} s wall\n  ")
        self.assert_sweep_passed(proc, 1, 40)
        ratios = [float(m) for m in re.findall(r" throughput=([0-9.]+)$", proc.stdout, re.MULTILINE)]
        self.assertEqual(len(ratios), 40)
        # The measure bites: no seed keeps its full rate through every window.
        strict = self.sim("--seeds", "1-5", *args, "--min-throughput", "1", timeout=SWEEP_TIMEOUT_S)
        self.assertEqual(strict.returncode, 1, strict.stdout)
        self.assertIn("throughput fell to", strict.stderr)

    def test_register_sweep_all_faults(self):
        proc = self.sim("--seeds", "1-50", "--workload", "register", "--faults", ALL_FAULTS, "--json",
                        timeout=SWEEP_TIMEOUT_S)
        self.assertEqual(proc.returncode, 0, f"register sweep failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        runs = [json.loads(line) for line in proc.stdout.splitlines()]
        self.assertEqual([r["seed"] for r in runs], list(range(1, 51)))
        for r in runs:
            self.assertIs(r["ok"], True, r)
            # A register run fails by a stale read as much as by a lost write.
            self.assertEqual((r["lost"], r["invented"], r["stale"]), (0, 0, 0), r)
            self.assertTrue(0 < r["acked"] <= r["ops"], r)

    def test_same_seed_same_run(self):
        args = ("--seed", "7", "--faults", ALL_FAULTS)
        first, second = self.sim(*args), self.sim(*args)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(first.stdout, second.stdout)
        [run] = parse_lines(self, first.stdout)
        self.assertEqual(run["seed"], 7)

        other = self.sim("--seed", "8", "--faults", ALL_FAULTS)
        self.assertEqual(other.returncode, 0, other.stderr)
        [other_run] = parse_lines(self, other.stdout)
        self.assertNotEqual(other_run["trace"], run["trace"])

        traces = []
        for name in ("a.trace", "b.trace"):
            path = os.path.join(self.tmp.name, name)
            proc = self.sim(*args, "--trace", path)
            # Writing the trace does not change the run.
            self.assertEqual(proc.stdout, first.stdout)
            with open(path, "rb") as f:
                traces.append(f.read())
        self.assertEqual(traces[0], traces[1])
        self.assertGreater(len(traces[0]), 0)
        text = traces[0].decode("ascii")
        lines = text.splitlines()
        self.assertTrue(text.endswith("\n"))
        times = []
        for line in lines:
            m = TRACE_LINE.match(line)
            self.assertIsNotNone(m, f"not a '<seconds> <event>' trace line: {line!r}")
            self.assertTrue(line.isprintable(), repr(line))
            times.append(int(m.group(1)) * 1000 + int(m.group(2)))
        self.assertEqual(times, sorted(times), "trace events out of time order")
        events = [TRACE_LINE.match(line).group(3) for line in lines]
        for node in range(1, 6):
            self.assertTrue(any(e.startswith(f"start n{node} ") for e in events), f"no start of n{node} in the trace")
        # A reader can see when the faults were injected.
        fault = re.compile(r"^fault (kill|pause|partition|drop|clock) .*begins$")
        self.assertTrue(any(fault.match(e) for e in events), "no fault named in the trace")

    def test_membership_seed_same_run(self):
        # Ring changes replay exactly too (whatever the verdict: this is the
        # contract of the seed, not a proof of data movement). The membership
        # fault alone, so that the seed's draws cannot pick other faults only.
        args = ("--seed", "3", "--faults", "membership")
        paths = [os.path.join(self.tmp.name, name) for name in ("m1.trace", "m2.trace")]
        runs = [self.sim(*args, "--trace", path) for path in paths]
        self.assertEqual(runs[0].returncode, runs[1].returncode)
        self.assertIn(runs[0].returncode, (0, 1), runs[0].stderr)
        self.assertEqual(runs[0].stdout, runs[1].stdout)
        [run] = parse_lines(self, runs[0].stdout)
        self.assertEqual(run["seed"], 3)
        with open(paths[0], "rb") as a, open(paths[1], "rb") as b:
            first = a.read()
            self.assertEqual(first, b.read())
        events = [TRACE_LINE.match(line).group(3) for line in first.decode("ascii").splitlines()]
        change = re.compile(r"^fault membership n\d+ (joins|leaves|dies and is removed|loses its disk and is replaced)"
                            r" begins$")
        self.assertTrue(any(change.match(e) for e in events), "no membership change named in the trace")
        self.assertEqual(self.leftover_run_dirs(), [])

    def test_lww_loses_writes_and_replay_reproduces(self):
        proc = self.sim("--seeds", "1-20", "--conflicts", "lww", "--faults", "kill,pause,partition")
        self.assertEqual(proc.returncode, 1, proc.stdout + proc.stderr)
        runs = parse_lines(self, proc.stdout)
        failed = runs[-1]
        # The sweep stops at the first failure.
        self.assertTrue(all(r["ok"] for r in runs[:-1]), proc.stdout)
        self.assertEqual([r["seed"] for r in runs], list(range(1, failed["seed"] + 1)))
        self.assertFalse(failed["ok"], failed["line"])
        self.assertGreater(failed["lost"], 0, failed["line"])
        self.assertIn("LOST ", proc.stderr)

        replays = replay_lines(proc.stderr)
        self.assertEqual(len(replays), 1, "no single replay: line on stderr:\n" + proc.stderr[-2000:])
        replay = replays[0]
        argv = shlex.split(replay)
        self.assertEqual(os.path.basename(argv[0]), "dynkv-sim", replay)
        self.assertIn(f"--seed {failed['seed']}", replay)
        replay_dir = os.path.join(self.tmp.name, "replay")
        os.mkdir(replay_dir)
        again = self.sim(*argv[1:], cwd=replay_dir)
        self.assertEqual(again.returncode, 1, again.stderr)
        self.assertEqual(again.stdout.splitlines(), [failed["line"]])
        trace_file = os.path.join(replay_dir, argv[argv.index("--trace") + 1])
        self.assertGreater(os.path.getsize(trace_file), 0)

    @unittest.skipUnless(HAVE_PLANTED, "dynkv-sim-planted is not built (meson option planted_bugs)")
    def test_sweep_catches_planted_replica_bug(self):
        self.assertTrue(os.access(SIM_PLANTED, os.X_OK), f"{SIM_PLANTED} is not built")
        proc = self.sim("--seeds", "1-200", "--faults", ALL_FAULTS, binary=SIM_PLANTED, timeout=SWEEP_TIMEOUT_S)
        self.assertEqual(proc.returncode, 1, "the sweep missed the planted bug:\n" + proc.stdout[-2000:])
        runs = parse_lines(self, proc.stdout)
        failed = runs[-1]
        self.assertTrue(all(r["ok"] for r in runs[:-1]), proc.stdout)
        self.assertFalse(failed["ok"], failed["line"])
        self.assertGreater(failed["lost"], 0, failed["line"])
        replays = replay_lines(proc.stderr)
        self.assertEqual(len(replays), 1, "no single replay: line on stderr:\n" + proc.stderr[-2000:])
        replay = replays[0]
        argv = shlex.split(replay)
        # Replaying with the unplanted binary would pass and mislead.
        self.assertEqual(os.path.basename(argv[0]), "dynkv-sim-planted", replay)
        self.assertIn(f"--seed {failed['seed']}", replay)
        # The same seed passes without the planted bug: the bug is what the sweep caught.
        clean = self.sim("--seed", str(failed["seed"]), "--faults", ALL_FAULTS)
        self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)

    def test_json_matches_text(self):
        for args, status in ((("--seeds", "1-3", "--faults", ALL_FAULTS), 0),
                             (("--seed", "1", "--conflicts", "lww", "--faults", "kill,pause,partition"), 1)):
            with self.subTest(args=args):
                text = self.sim(*args)
                as_json = self.sim(*args, "--json")
                self.assertEqual((text.returncode, as_json.returncode), (status, status), as_json.stderr)
                runs = parse_lines(self, text.stdout)
                objects = [json.loads(line) for line in as_json.stdout.splitlines()]
                self.assertEqual(len(objects), len(runs))
                for obj, run in zip(objects, runs):
                    self.assertEqual(set(obj), JSON_FIELDS)
                    self.assertIsInstance(obj["ok"], bool)
                    for field in ("seed", "ops", "acked", "lost", "invented", "stale"):
                        self.assertIs(type(obj[field]), int, field)
                    self.assertEqual({k: obj[k] for k in run if k != "line"}, {k: v for k, v in run.items() if k != "line"})
                    self.assertEqual(obj["stale"], 0)  # the set workload never reads stale

    def test_bad_arguments(self):
        cases = [
            ((), "--seed"),
            (("--seeds", "5-1"), "5-1"),
            (("--seed", "1", "--faults", "fire"), "fire"),
            (("--seed", "1", "--r", "4", "--n", "3"), "--r"),
            (("--seed", "1", "--workload", "x"), "--workload"),
            (("--seed", "1", "--conflicts", "x"), "--conflicts"),
            (("--seed", "1", "--bogus", "3"), "--bogus"),
            (("--seed", "1", "--bogus"), "--bogus"),
            (("--seed", "one"), "one"),
            (("--seed", "1", "--hints", "maybe"), "--hints"),
            (("--seed", "1", "--anti-entropy", "-5"), "--anti-entropy"),
            (("--seed", "1", "--keys", "0"), "--keys"),
            (("--seed", "1", "--min-throughput", "1.5"), "--min-throughput"),
            (("--seed", "1", "--racks", "0"), "--racks"),
            (("--seed", "1", "--datacenters", "4", "--n", "3"), "--datacenters"),
        ]
        for args, named in cases:
            with self.subTest(args=args):
                proc = self.sim(*args, timeout=30)
                self.assertEqual(proc.returncode, 2, proc.stdout + proc.stderr)
                self.assertEqual(proc.stdout, "", "a bad command line ran something")
                first = proc.stderr.splitlines()[0] if proc.stderr else ""
                self.assertIn(named, first, f"the message does not name the problem: {first!r}")

    def test_help_mentions_every_flag(self):
        proc = self.sim("--help", timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        for word in ("--seed", "--seeds", "--nodes", "--n", "--r", "--w", "--faults", "kill", "pause", "partition",
                     "drop", "clock", "membership", "--ops", "--workload", "set", "register", "--conflicts",
                     "siblings", "lww", "--json", "--trace", "--keys", "--hints", "--anti-entropy", "slow", "stall", "--min-throughput",
                     "--racks", "--datacenters"):
            self.assertRegex(proc.stdout, r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", word)


if __name__ == "__main__":
    unittest.main()
