"""A private network namespace for a chaos run, and the packet filter that
partitions the nodes inside it.

The runner re-executes itself inside a fresh namespace (`ip netns exec`),
so the cluster and its clients see only that namespace's loopback and the
filter rules cannot touch the host. Each node listens on its own
127.0.0.(10+i); a partition drops the packets between two groups of node
addresses (nft, inet table, input hook: a dropped packet is lost silently,
as Jepsen's iptables INPUT rules lose it), while clients, which connect
from 127.0.0.1, still reach every node.
"""
import os
import re
import signal
import subprocess
import sys

ENV_MARKER = "DYNKV_CHAOS_NETNS"  # set, to the namespace's name, inside it
PREFIX = "dynkv-chaos-"
TABLE = "dynkv_chaos"
COMMAND_LIMIT_S = 10
CHILD_STOP_LIMIT_S = 60


class Interrupted(Exception):
    pass


def on_signal(signum, frame):
    raise Interrupted(f"signal {signum}")


def run(*command):
    """Runs a command; RuntimeError with its output when it fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=COMMAND_LIMIT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"{' '.join(command)}: {e}") from None
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def inside():
    """The namespace this process runs in for a chaos run, or None."""
    return os.environ.get(ENV_MARKER) or None


def create(name):
    """Makes the namespace with its loopback up; RuntimeError saying why not
    (not root, no `ip`, no namespace support)."""
    if os.geteuid() != 0:
        raise RuntimeError("not running as root")
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        run("ip", "netns", "exec", name, "nft", "list", "tables")
    except RuntimeError:
        destroy(name)
        raise


def pids(name):
    try:
        return [int(p) for p in run("ip", "netns", "pids", name).split()]
    except RuntimeError:
        return []


def destroy(name):
    """Kills every process left in the namespace, then deletes it. Never raises."""
    for pid in pids(name):
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    try:
        run("ip", "netns", "del", name)
    except RuntimeError:
        pass


def remove_stale():
    """Deletes namespaces left by earlier runs whose runner is gone (a run
    killed with SIGKILL cannot clean up); returns their names."""
    try:
        listed = run("ip", "netns", "list")
    except RuntimeError:
        return []
    removed = []
    for match in re.finditer(rf"^{re.escape(PREFIX)}(\d+)\b", listed, re.MULTILINE):
        if not os.path.exists(f"/proc/{match.group(1)}"):
            destroy(match.group(0))
            removed.append(match.group(0))
    return removed


class Firewall:
    """Partitions by node address; used from inside the namespace."""

    def __init__(self):
        run("nft", "add", "table", "inet", TABLE)
        run("nft", "add", "chain", "inet", TABLE, "input", "{ type filter hook input priority 0 ; policy accept ; }")

    def partition(self, sides):
        """Drops every packet between addresses on different sides (lists of hosts)."""
        for a_side in sides:
            for b_side in sides:
                if a_side is b_side:
                    continue
                for a in a_side:
                    for b in b_side:
                        run("nft", "add", "rule", "inet", TABLE, "input", "ip", "saddr", a, "ip", "daddr", b, "drop")

    def heal(self):
        run("nft", "flush", "chain", "inet", TABLE, "input")

    def rules(self):
        return run("nft", "list", "chain", "inet", TABLE, "input").count(" drop")


def run_inside(name, script, argv):
    """Runs the Python `script` with `argv` inside namespace `name` (with
    ENV_MARKER set, and the build and module paths made absolute), then
    removes the namespace and everything in it, however the run ends.
    Returns the script's exit status, or None when interrupted."""
    env = dict(os.environ, **{ENV_MARKER: name})
    for variable in ("DYNKV_BUILD_ROOT", "PYTHONPATH", "DYNKV_TEST_TMP"):
        if env.get(variable):
            env[variable] = os.pathsep.join(os.path.abspath(p) for p in env[variable].split(os.pathsep))
    command = ["ip", "netns", "exec", name, sys.executable, script, *argv]
    child = None
    try:
        signal.signal(signal.SIGTERM, on_signal)
        child = subprocess.Popen(command, env=env)
        return child.wait()
    except (Interrupted, KeyboardInterrupt):
        print(f"{os.path.basename(script)}: interrupted; stopping the run", file=sys.stderr)
        return None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # lets it save logs and stop its nodes
            try:
                child.wait(timeout=CHILD_STOP_LIMIT_S)
            except subprocess.TimeoutExpired:
                pass
        destroy(name)
