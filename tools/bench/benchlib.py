"""Helpers shared by the cluster benchmarks (tools/bench/transfer,
tools/bench/antientropy): the framed protobuf protocol, a cluster of dynkvd
processes on 127.0.0.1, a light open-loop client in a child process (run this
file with --light-... arguments), per-thread CPU from /proc, latency
summaries, and counting the keys a stopped node's LevelDB holds."""
import argparse
import os
import platform
import random
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from ports import free_port  # noqa: E402,F401  (one allocator for every parallel run)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT_S = 60
POLL_S = 0.2
LIGHT_KEYS = 1000
CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1 << 20


def log(message):
    print(f"{os.path.basename(sys.argv[0])}: {message}", file=sys.stderr, flush=True)


def parse_size(text):
    units = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "B": 1}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def import_pb():
    """client_pb2, the one the Python client package of this tree carries
    (clients/python/dynkv; the build makes no Python modules)."""
    sys.path.insert(0, os.path.join(REPO, "clients", "python"))
    from dynkv import client_pb2

    return client_pb2


# ---- The wire protocol: 4-byte big-endian length + protobuf ------------------


class Conn:
    def __init__(self, pb, address, timeout=10):
        host, port = address.rsplit(":", 1)
        self.pb = pb
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.next_id = 1

    def close(self):
        self.sock.close()

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("connection closed by the node")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def call(self, request):
        request.id = self.next_id
        self.next_id += 1
        body = request.SerializeToString()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (length,) = struct.unpack(">I", self._read_exact(4))
        response = self.pb.Response()
        response.ParseFromString(self._read_exact(length))
        return response


def ask(pb, address, field, timeout=5):
    """One admin request (`members`, `stats`, `ring`) on a fresh connection."""
    conn = Conn(pb, address, timeout)
    try:
        request = pb.Request()
        getattr(request, field).SetInParent()
        response = conn.call(request)
    finally:
        conn.close()
    if response.HasField("error"):
        raise RuntimeError(f"{field} on {address}: {response.error.message}")
    return getattr(response, field)


def rss_mib(pid):
    """The resident set of a process, MiB (VmRSS in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def stats(pb, address):
    return dict(ask(pb, address, "stats").values)


def own_status(pb, address):
    for member in ask(pb, address, "members").members:
        if member.self:
            return member.status
    return None


# ---- The light client (a child process: its timing shares no GIL with the poller)


def start_light_client(args, nodes, out, max_s, puts=True):
    """The light client in a child process of its own, on `nodes` (client
    addresses), writing one line per request to `out`; stopped by SIGTERM.
    Without `puts` it only reads."""
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--build", args.build,
                             "--light-nodes", ",".join(nodes), "--light-rate", str(args.light_rate),
                             "--keys", str(args.keys), "--value-size", str(args.value_size),
                             "--light-out", out, "--light-max-s", str(max_s), "--seed", str(args.seed),
                             "--light-puts", "1" if puts else "0"])


def stop_light_client(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def light_client(args):
    """Open loop at --light-rate requests/s, round robin over --light-nodes:
    half GETs of loaded keys (dynkv-bench's key:%012d), half PUTs of its own
    1,000 keys with their last contexts (all GETs with --light-puts 0);
    `scheduled sent done op ok` per line."""
    pb = import_pb()
    nodes = args.light_nodes.split(",")
    conns = [None] * len(nodes)
    contexts = {}
    rng = random.Random(args.seed)
    value = b"v" * args.value_size
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    out = open(args.light_out, "w", buffering=1 << 16)
    interval = 1.0 / args.light_rate
    start = time.monotonic()
    deadline = start + args.light_max_s
    k = 0
    while not stop and time.monotonic() < deadline:
        scheduled = start + k * interval
        k += 1
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        i = k % len(nodes)
        request = pb.Request()
        if k % 2 or not args.light_puts:
            op = "get"
            request.get.key = b"key:%012d" % rng.randrange(args.keys)
        else:
            op = "put"
            key = b"light:%06d" % rng.randrange(LIGHT_KEYS)
            request.put.key = key
            request.put.value = value
            request.put.context = contexts.get(key, b"")
        sent = time.monotonic()
        ok = 0
        try:
            if conns[i] is None:
                conns[i] = Conn(pb, nodes[i], timeout=10)
            response = conns[i].call(request)
            if response.HasField("error"):
                ok = -response.error.code
            else:
                ok = 1
                if op == "put":
                    contexts[key] = response.put.context
        except (OSError, ConnectionError):
            if conns[i] is not None:
                conns[i].close()
            conns[i] = None
        done = time.monotonic()
        out.write(f"{scheduled:.6f} {sent:.6f} {done:.6f} {op} {ok}\n")
    out.close()


# ---- Measuring ---------------------------------------------------------------


def thread_cpu(pid):
    """{tid: (name, cpu seconds, seconds runnable but waiting for a core)} for
    every thread of `pid` (stat and schedstat in /proc)."""
    result = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return result
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                waited = int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            waited = 0.0
        result[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK, waited)
    return result


def thread_usage(pid, before, after, seconds):
    """[(label, cpu seconds per second, runqueue wait per second)], busiest
    first. The thread whose id is the pid is the event loop; LevelDB's
    compaction thread inherits the name of the thread that opened the
    database. cpu + wait near 1: the thread would take a whole core."""
    rows = []
    for tid, (name, cpu, waited) in after.items():
        _, cpu0, waited0 = before.get(tid, (name, 0.0, 0.0))
        label = "loop" if tid == pid else f"{name}/{tid}"
        rows.append((label, round((cpu - cpu0) / seconds, 3), round((waited - waited0) / seconds, 3)))
    return sorted(rows, key=lambda r: -r[1])


def machine_busy():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields), idle


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def latency_summary(samples, t0, t1):
    """Latency of the light requests scheduled in [t0, t1): from send (service
    time) and from their scheduled time (counts the wait of a late send)."""
    inside = [s for s in samples if t0 <= s[0] < t1]
    ok = [s for s in inside if s[4] == 1]
    service = [(s[2] - s[1]) * 1000 for s in ok]
    scheduled = [(s[2] - s[0]) * 1000 for s in ok]
    errors = {}
    for s in inside:
        if s[4] != 1:
            errors[str(s[4])] = errors.get(str(s[4]), 0) + 1
    return {
        "seconds": round(t1 - t0, 1),
        "requests": len(inside),
        "errors": errors,
        "ms": {p: percentile(service, v) for p, v in (("p50", 50), ("p99", 99), ("p999", 99.9), ("max", 100))},
        "ms_from_schedule": {p: percentile(scheduled, v) for p, v in (("p50", 50), ("p99", 99), ("max", 100))},
    }


def read_light(path):
    samples = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5:
                samples.append((float(parts[0]), float(parts[1]), float(parts[2]), parts[3], int(parts[4])))
    return samples


def count_keys(data_dir):
    """(loaded keys, other data keys) in a stopped node's LevelDB."""
    import plyvel  # Debian's python3-plyvel (tools/setup.sh)

    db = plyvel.DB(data_dir, create_if_missing=False)
    loaded = other = 0
    try:
        # Data keys: 'd', the ring position (8 bytes), the user key (storage/keys.h).
        for key in db.iterator(prefix=b"d", include_value=False):
            if key[9:13] == b"key:":
                loaded += 1
            else:
                other += 1
    finally:
        db.close()
    return loaded, other


# ---- The cluster -------------------------------------------------------------


class Cluster:
    """Nodes node1..nodeN on 127.0.0.1 with fresh ports, N=3 and R=W=2 unless
    `extra` (YAML appended to each node's config) says otherwise; every node
    names node1 as its seed. `group` names a set of data dirs under workdir,
    so one run can start several clusters from copies of the same data."""

    def __init__(self, args, workdir, nodes=4, replication="{ n: 3, r: 2, w: 2 }", resp=False):
        self.args = args
        self.workdir = workdir
        self.dynkvd = os.path.join(args.build, "src", "node", "dynkvd")
        self.bench = os.path.join(args.build, "tools", "bench", "dynkv-bench")
        for path in (self.dynkvd, self.bench):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: build it first (ninja -C {args.build})")
        self.pb = import_pb()
        self.ports = {f"node{i}": (free_port(), free_port()) for i in range(1, nodes + 1)}
        # listen.resp, when asked for: the Redis-protocol port of each node.
        self.resp_ports = {node: free_port() for node in self.ports} if resp else {}
        self.procs = {}
        self.commands = []
        self.replication = replication

    def client(self, node):
        return f"127.0.0.1:{self.ports[node][0]}"

    def data_dir(self, group, node):
        return os.path.join(self.workdir, group, node, "data")

    def start(self, group, node, extra=""):
        node_dir = os.path.join(self.workdir, group, node)
        os.makedirs(node_dir, exist_ok=True)
        client_port, peer_port = self.ports[node]
        resp = f", resp: 127.0.0.1:{self.resp_ports[node]}" if node in self.resp_ports else ""
        config = os.path.join(node_dir, "node.yaml")
        with open(config, "w") as f:
            f.write(f"node_id: {node}\n"
                    f"listen: {{ client: 127.0.0.1:{client_port}, peer: 127.0.0.1:{peer_port}{resp} }}\n"
                    f"data_dir: {self.data_dir(group, node)}\n"
                    f"seeds: [127.0.0.1:{self.ports['node1'][1]}]\n"
                    f"replication: {self.replication}\n"
                    "log_level: info\n" + extra)
        with open(os.path.join(node_dir, "node.log"), "ab") as log_file:
            proc = subprocess.Popen([self.dynkvd, "--config", config], stdout=log_file, stderr=log_file,
                                    start_new_session=True)
        self.procs[node] = proc
        with open(config) as f:
            text = f.read().strip().replace("\n", "; ")
        self.commands.append(f"dynkvd --config {config.replace(self.workdir, '$TMP')}  # {text}"
                             .replace(self.workdir, "$TMP"))
        return proc

    def stop(self, node, timeout=60):
        proc = self.procs.pop(node, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"{node} did not stop within {timeout} s after SIGTERM: killed")
            proc.kill()
            proc.wait()

    def stop_all(self):
        for node in list(self.procs):
            self.stop(node)

    def wait_up(self, nodes, timeout=START_TIMEOUT_S):
        """Until each node sees every one of `nodes` up and normal, and is ready."""
        deadline = time.monotonic() + timeout
        for node in nodes:
            while True:
                proc = self.procs[node]
                if proc.poll() is not None:
                    raise RuntimeError(f"{node} exited with {proc.returncode}; see its log")
                try:
                    members = ask(self.pb, self.client(node), "members").members
                    up = {m.node_id for m in members if m.up and m.status == "normal"}
                    if set(nodes) <= up and stats(self.pb, self.client(node)).get("node.ready") == 1:
                        break
                except (OSError, ConnectionError, RuntimeError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{node} did not see {nodes} up and normal within {timeout} s")
                time.sleep(POLL_S)


def fmt_ms(value):
    return "n/a" if value is None else f"{value:.2f} ms"


def machine_line():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / (1 << 20)
    return f"{os.cpu_count()} cores ({model}), {mem_gib:.1f} GiB RAM, {platform.system()} {platform.release()}"


def main():
    """The light client's own process (start_light_client)."""
    parser = argparse.ArgumentParser(description="the benchmarks' light client")
    for flag in ("--build", "--light-nodes", "--light-out"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--light-rate", type=float, required=True)
    parser.add_argument("--light-max-s", type=float, required=True)
    parser.add_argument("--keys", type=int, required=True)
    parser.add_argument("--value-size", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--light-puts", type=int, default=1)
    return light_client(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
