#!/usr/bin/python3
"""Judges a chaos history file; reads nothing else, so any run can be checked again.

A history is JSON lines. Each record has a "type":
  meta     {"workload": "set"|"register", "seed": ..., ...}          (optional)
  op       {"client", "op": add|read|write|final_read, "key", "node",
            "start_ms", "end_ms", "result": "ok" or an error code name,
            "value" (add: the element; write: the value),
            "values" (read, final_read: what was read; for set keys the
            union of the elements of every sibling),
            "error" (a failed op: the node's or the client's message)}
  nemesis  {"fault", "node", "start_ms", "end_ms", ...}   the fault and its
            heal; "node" names the target (a partition's sides, "all" for
            a rolling restart); details such as "sides" or "steps" follow.
            A membership fault has "change" (join, leave, remove, replace),
            "finished" (false when it did not settle in time), "failures"
            (why not), "members" (after it) and its "steps"
  crash    {"node", "exit", "at_ms"}   a node that exited on its own, or
            not cleanly after SIGTERM

Set workload (Jepsen's set test, as in its Riak analysis): every element whose
add was acknowledged must be in the final read of its key. Register workload:
every value read was written by some client (acknowledged or not), and a read
that no fault window overlaps returns the reader's own last acknowledged
write unless another write raced it.

Exit status: 0 clean, 1 a lost acknowledged write, an invented value, a
stale read, a node crash or a membership change that did not finish, 2 a
history that cannot be judged (unreadable, a key without a successful
final read).
"""
import argparse
import collections
import json
import sys

EXIT_CLEAN = 0
EXIT_VIOLATION = 1
EXIT_UNJUDGEABLE = 2


class HistoryError(Exception):
    """The history cannot be judged."""


class History:
    """The records of one run, split by type."""

    def __init__(self, meta, ops, faults, crashes=()):
        self.meta = meta
        self.ops = ops
        self.faults = faults
        self.crashes = list(crashes)

    @property
    def workload(self):
        if "workload" in self.meta:
            return self.meta["workload"]
        return "set" if any(op["op"] == "add" for op in self.ops) else "register"


def load_history(path):
    meta, ops, faults, crashes = {}, [], [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as e:
                raise HistoryError(f"{path}:{number}: not JSON: {e}") from None
            kind = record.get("type")
            if kind == "meta":
                meta.update(record)
            elif kind == "op":
                ops.append(record)
            elif kind == "nemesis":
                faults.append(record)
            elif kind == "crash":
                crashes.append(record)
            else:
                raise HistoryError(f"{path}:{number}: unknown record type {kind!r}")
    return History(meta, ops, faults, crashes)


def ok(op):
    return op.get("result") == "ok"


def check_set(history):
    """{lost, recovered, unacknowledged, invented, unread_keys} as sorted lists, one entry per (key, element)."""
    attempted = collections.defaultdict(dict)  # key -> element -> acknowledged
    final = {}
    for op in history.ops:
        if op["op"] == "add":
            acked = attempted[op["key"]].get(op["value"], False)
            attempted[op["key"]][op["value"]] = acked or ok(op)
        elif op["op"] == "final_read" and ok(op):
            final[op["key"]] = set(op.get("values", []))
    verdict = {"lost": [], "recovered": [], "unacknowledged": [], "invented": [], "unread_keys": []}
    for key in sorted(set(attempted) | set(final)):
        if key not in final:
            verdict["unread_keys"].append(key)
            continue
        present = final[key]
        for element, acked in sorted(attempted[key].items()):
            if acked and element not in present:
                verdict["lost"].append((key, element))
            elif not acked:
                verdict["recovered" if element in present else "unacknowledged"].append((key, element))
        verdict["invented"] += [(key, e) for e in sorted(present - set(attempted[key]))]
    return verdict


def in_any_fault(faults, start_ms, end_ms):
    return any(f["start_ms"] <= end_ms and start_ms <= f["end_ms"] for f in faults)


def check_register(history):
    """{invented, stale} lists: reads of values nobody wrote; fault-free reads missing the reader's own write."""
    writes = collections.defaultdict(dict)  # key -> value -> its write (values are unique per write)
    for op in history.ops:
        if op["op"] == "write":
            writes[op["key"]][op["value"]] = op
    verdict = {"invented": [], "stale": []}
    last_write = {}  # (client, key) -> last acknowledged write
    for op in sorted(history.ops, key=lambda o: o["end_ms"]):
        key = op["key"]
        if op["op"] == "write" and ok(op):
            last_write[(op["client"], key)] = op
        if op["op"] not in ("read", "final_read") or not ok(op):
            continue
        values = op.get("values", [])
        verdict["invented"] += [(key, v, op["client"]) for v in values if v not in writes[key]]
        own = last_write.get((op["client"], key))
        if own is None or own["value"] in values or in_any_fault(history.faults, own["start_ms"], op["end_ms"]):
            continue
        # A write not finished before ours began may legitimately supersede it.
        racing = [writes[key][v] for v in values if v in writes[key]]
        if not any(w["end_ms"] >= own["start_ms"] and w["start_ms"] <= op["end_ms"] for w in racing):
            verdict["stale"].append((key, own["value"], op["client"]))
    return verdict


def fault_kind(fault):
    """"kill", ...; a membership change by its change: "membership join"."""
    return f"{fault['fault']} {fault['change']}" if "change" in fault else fault["fault"]


def unfinished_changes(history):
    """(change, node, first failure) of each membership change that did not settle in time."""
    return [(f["change"], f.get("node", ""), (f.get("failures") or [""])[0])
            for f in history.faults if "change" in f and not f.get("finished", True)]


def availability(history):
    """Per fault window: (fault, node, start_ms, end_ms, ops started inside, of which ok)."""
    rows = []
    for f in history.faults:
        inside = [op for op in history.ops
                  if op["op"] != "final_read" and f["start_ms"] <= op["start_ms"] <= f["end_ms"]]
        node = f"{f['change']} {f.get('node', '')}" if "change" in f else f.get("node", "")
        rows.append((f["fault"], node, f["start_ms"], f["end_ms"], len(inside), sum(1 for op in inside if ok(op))))
    return rows


def availability_by_kind(history):
    """{fault kind or "none": (windows, seconds, ops started, of which ok)}; "none" is outside every window."""
    rows = collections.defaultdict(lambda: [0, 0.0, 0, 0])
    for f, (_, _, start, end, total, good) in zip(history.faults, availability(history)):
        row = rows[fault_kind(f)]
        row[0] += 1
        row[1] += (end - start) / 1000
        row[2] += total
        row[3] += good
    calm = [op for op in history.ops if op["op"] != "final_read"
            and not any(f["start_ms"] <= op["start_ms"] <= f["end_ms"] for f in history.faults)]
    rows["none"] = [0, 0.0, len(calm), sum(1 for op in calm if ok(op))]
    return {kind: tuple(row) for kind, row in rows.items()}


def percent(good, total):
    return f"{100.0 * good / total:.0f}%" if total else "-"


def summary(history, verdict):
    """The report as text lines."""
    ops = [op for op in history.ops if op["op"] != "final_read"]
    errors = collections.Counter(op["result"] for op in ops if not ok(op))
    lines = [f"workload: {history.workload}   seed: {history.meta.get('seed', '-')}",
             f"{'operations':<28}{len(ops):>10}",
             f"{'successes':<28}{sum(1 for op in ops if ok(op)):>10}"]
    lines += [f"{'errors ' + code:<28}{count:>10}" for code, count in sorted(errors.items())]
    for name in ("lost", "recovered", "unacknowledged", "invented", "stale", "unread_keys", "crashes",
                 "unfinished_changes"):
        if name in verdict:
            lines.append(f"{name.replace('_', ' '):<28}{len(verdict[name]):>10}")
    if history.faults:
        lines.append(f"{'availability by fault':<22}{'windows':>8}{'seconds':>9}{'ops':>8}{'ok':>8}{'avail':>7}")
        for kind, (windows, seconds, total, good) in sorted(availability_by_kind(history).items()):
            lines.append(f"{kind:<22}{windows:>8}{seconds:>9.1f}{total:>8}{good:>8}{percent(good, total):>7}")
        t0 = min(op["start_ms"] for op in history.ops) if history.ops else 0
        lines.append(f"{'fault':<12}{'node':<24}{'from s':>8}{'to s':>8}{'ops':>8}{'ok':>8}{'avail':>8}")
        for fault, node, start, end, total, good in availability(history):
            lines.append(f"{fault:<12}{node:<24}{(start - t0) / 1000:>8.1f}{(end - t0) / 1000:>8.1f}"
                         f"{total:>8}{good:>8}{percent(good, total):>8}")
    for name, label in (("lost", "LOST"), ("invented", "INVENTED"), ("stale", "STALE"), ("crashes", "CRASHES"),
                        ("unfinished_changes", "UNFINISHED")):
        for item in verdict.get(name, [])[:20]:
            lines.append(f"{label}: {item}")
    return lines


def plot_timeline(history, png_path):
    """Successes and errors per second, with fault windows shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ops = [op for op in history.ops if op["op"] != "final_read"]
    t0 = min((op["start_ms"] for op in ops), default=0)
    seconds = int(max((op["end_ms"] for op in ops), default=t0) - t0) // 1000 + 1
    good, bad = [0] * seconds, [0] * seconds
    for op in ops:
        (good if ok(op) else bad)[int(op["end_ms"] - t0) // 1000] += 1
    fig, ax = plt.subplots(figsize=(12, 4))
    xs = range(seconds)
    ax.plot(xs, good, label="ok ops/s", color="tab:green")
    ax.plot(xs, bad, label="errors/s", color="tab:red")
    colours = {"kill": "tab:orange", "pause": "tab:purple", "slow": "tab:pink", "partition": "tab:blue",
               "restart": "tab:olive",
               "membership": "tab:brown"}
    for f in history.faults:
        ax.axvspan((f["start_ms"] - t0) / 1000, (f["end_ms"] - t0) / 1000, alpha=0.2,
                   color=colours.get(f["fault"], "tab:gray"))
        ax.text((f["start_ms"] - t0) / 1000, ax.get_ylim()[1] * 0.95, f"{fault_kind(f)} {f.get('node', '')}",
                fontsize=7, rotation=90, va="top")
    ax.set_xlabel("seconds since first operation")
    ax.set_ylabel("operations per second")
    ax.set_title(f"dynkv chaos: {history.workload} workload, seed {history.meta.get('seed', '-')}")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


def judge(history):
    """(verdict, exit status)."""
    verdict = check_set(history) if history.workload == "set" else check_register(history)
    verdict["crashes"] = [(c["node"], c.get("exit")) for c in history.crashes]
    verdict["unfinished_changes"] = unfinished_changes(history)
    if (verdict.get("lost") or verdict.get("invented") or verdict.get("stale") or verdict["crashes"]
            or verdict["unfinished_changes"]):
        return verdict, EXIT_VIOLATION
    if verdict.get("unread_keys"):
        return verdict, EXIT_UNJUDGEABLE
    return verdict, EXIT_CLEAN


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("history", help="history file (JSON lines)")
    parser.add_argument("--png", help="timeline image to write (default: HISTORY.png)")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON instead of a table")
    args = parser.parse_args(argv)
    try:
        history = load_history(args.history)
    except (OSError, HistoryError) as e:
        print(f"checker: {e}", file=sys.stderr)
        return EXIT_UNJUDGEABLE
    verdict, status = judge(history)
    if args.json:
        print(json.dumps({k: len(v) for k, v in verdict.items()} | {"exit": status}))
    else:
        print("\n".join(summary(history, verdict)))
        print(["VALID", "INVALID: acknowledged writes lost, values invented, a node crashed or a membership "
               "change did not finish",
               "UNJUDGEABLE"][status])
    plot_timeline(history, args.png or args.history + ".png")
    return status


if __name__ == "__main__":
    sys.exit(main())
