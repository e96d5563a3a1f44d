"""Loopback ports for the clusters that tests, benchmarks and chaos runs
start: one allocator so that runs in parallel do not collide.

A port from bind(("127.0.0.1", 0)) comes from the kernel's ephemeral range,
the same range every outgoing connection on the machine draws its local
port from: between the probe and dynkvd's bind, a client connection of
another test (redis-benchmark opens hundreds) can take it, and the node
fails with "already in use". So ports come from below that range, handed
out in turn through a counter file shared by every process on the machine
(under a lock), each checked free before it is given.
"""
import fcntl
import os
import socket
import tempfile

COUNTER = os.path.join(tempfile.gettempdir(), "dynkv-test-ports")
LOWEST = 10000


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _kernel_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port():
    """A free 127.0.0.1 TCP port that no other caller on this machine was
    given recently."""
    high = _ephemeral_low()
    span = high - LOWEST
    if span < 1000:  # an unusual port range: fall back to the kernel's choice
        return _kernel_port()
    with open(COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        text = f.read().strip()
        offset = int(text) % span if text.isdigit() else os.getpid() % span
        for _ in range(span):
            port = LOWEST + offset
            offset = (offset + 1) % span
            if _bindable(port):
                break
        else:
            raise RuntimeError(f"no free port in {LOWEST}-{high - 1}")
        f.seek(0)
        f.truncate()
        f.write(str(offset))
    return port
