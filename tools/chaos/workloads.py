"""Client threads that drive a workload and record every operation.

set:      read (R=2), union the elements of every sibling, add a unique
          integer, write back with the read's context (W=2): Jepsen's set
          test as in its Riak analysis.
register: single values per key; writes carry the context of the client's
          last answer for that key, reads use R=2 (R+W > N=3).

Requests go through the dynkv package (clients/python), one client per
worker bound to one node (no routing, so nothing is sent again elsewhere).
An operation is recorded "ok" only when that node acknowledged it; every
failure is recorded under its code (dynkv.DynkvError.code): the node's own
(UNAVAILABLE, TIMEOUT, OVERLOADED, ...) or the client's CONNECTION and
CLIENT_TIMEOUT, which leave a write indeterminate: it may have been applied.
The checker requires only "ok" adds in the final read and accepts any other
as present or absent.
"""
import json
import random
import threading
import time

import dynkv

REQUEST_TIMEOUT_S = 1.5  # the node's timeout for each request
CLIENT_TIMEOUT_S = 3.0   # the client's whole wait for an answer: CLIENT_TIMEOUT after it
INDETERMINATE = (dynkv.CONNECTION, dynkv.CLIENT_TIMEOUT)


def now_ms():
    return time.time() * 1000.0


class History:
    """Thread-safe JSON-lines writer."""

    def __init__(self, path):
        self.file = open(path, "w")
        self.lock = threading.Lock()

    def record(self, **fields):
        with self.lock:
            self.file.write(json.dumps(fields) + "\n")
            self.file.flush()

    def close(self):
        self.file.close()


def decode_set(siblings):
    elements = set()
    for sibling in siblings:
        if sibling.value:
            elements.update(int(e) for e in sibling.value.decode().split(","))
    return elements


def encode_set(elements):
    return ",".join(str(e) for e in sorted(elements)).encode()


class Worker(threading.Thread):
    """One client: a connection to one member (moves to another live member
    after a connection error or a client timeout, or when its node is no
    member any more)."""

    def __init__(self, index, workload, keys, cluster, history, stop, seed):
        super().__init__(name=f"client{index}", daemon=True)
        self.index, self.workload, self.keys = index, workload, keys
        self.cluster, self.history, self.stop = cluster, history, stop
        self.rng = random.Random(seed * 1000 + index)
        self.counter = 0
        self.contexts = {}
        members = cluster.members()
        self.node = members[index % len(members)]
        self.client = self.node.client(REQUEST_TIMEOUT_S, CLIENT_TIMEOUT_S)

    def run(self):
        try:
            while not self.stop.is_set():
                if not self.cluster.is_member(self.node):  # it left or is being removed
                    self.move()
                self.set_step() if self.workload == "set" else self.register_step()
        finally:
            self.client.close()

    def move(self):
        """To a random live member."""
        self.client.close()
        self.node = self.cluster.pick(self.rng)
        self.client = self.node.client(REQUEST_TIMEOUT_S, CLIENT_TIMEOUT_S)

    def record(self, op, key, start, result, **fields):
        self.history.record(type="op", client=self.index, op=op, key=key, node=self.node.node_id,
                            start_ms=start, end_ms=now_ms(), result=result, **fields)

    def record_error(self, op, key, start, error, **fields):
        self.record(op, key, start, error.code, error=error.message, **fields)

    def failed(self, error):
        if error.code in INDETERMINATE:
            self.move()
            self.stop.wait(0.05)  # not a spin against a dead node

    def set_step(self):
        key = self.rng.choice(self.keys)
        self.counter += 1
        element = self.index * 1_000_000 + self.counter
        start = now_ms()
        try:
            read = self.client.get(key, r=2)
        except dynkv.DynkvError as e:
            self.record_error("read", key, start, e)
            self.failed(e)
            return
        start = now_ms()
        try:
            elements = decode_set(read.siblings) | {element}
            self.client.put(key, encode_set(elements), read.context, w=2)
            self.record("add", key, start, "ok", value=element)
        except dynkv.DynkvError as e:
            self.record_error("add", key, start, e, value=element)
            self.failed(e)

    def register_step(self):
        key = self.rng.choice(self.keys)
        self.register_write(key) if self.rng.random() < 0.5 else self.register_read(key)

    def register_write(self, key):
        self.counter += 1
        value = f"c{self.index}-{self.counter}"
        start = now_ms()
        try:
            answer = self.client.put(key, value.encode(), self.contexts.pop(key, None), w=2)
            self.contexts[key] = answer.context
            self.record("write", key, start, "ok", value=value)
        except dynkv.DynkvError as e:
            self.record_error("write", key, start, e, value=value)
            self.failed(e)

    def register_read(self, key):
        start = now_ms()
        try:
            answer = self.client.get(key, r=2)
            self.contexts[key] = answer.context
            self.record("read", key, start, "ok", values=sorted(s.value.decode() for s in answer.siblings))
        except dynkv.DynkvError as e:
            self.record_error("read", key, start, e)
            self.failed(e)


def final_reads(workload, keys, cluster, history, attempts=10):
    """A read with R=all of every key from the members, retried a bounded number of times."""
    nodes = cluster.live_members()
    for key in keys:
        for attempt in range(attempts):
            node = nodes[attempt % len(nodes)]
            client = node.client(REQUEST_TIMEOUT_S * 2, CLIENT_TIMEOUT_S * 2)
            start = now_ms()
            try:
                answer = client.get(key, r=dynkv.ALL)
                values = (sorted(decode_set(answer.siblings)) if workload == "set"
                          else sorted(s.value.decode() for s in answer.siblings))
                history.record(type="op", client="final", op="final_read", key=key, node=node.node_id,
                               start_ms=start, end_ms=now_ms(), result="ok", values=values)
                break
            except dynkv.DynkvError as e:
                history.record(type="op", client="final", op="final_read", key=key, node=node.node_id,
                               start_ms=start, end_ms=now_ms(), result=e.code, error=e.message, values=[])
                time.sleep(0.5)
            finally:
                client.close()
