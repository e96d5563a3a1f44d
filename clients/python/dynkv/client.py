"""The dynkv client: requests, routing by key, pipelining.

Routing (token-aware, as Cassandra's drivers do): the client keeps the
cluster's ring (a RingRequest to any node), and sends a key's request to the
first node of the key's preference list that it believes up, so that node
coordinates the request as a replica instead of forwarding it (one hop
less). It believes a node up until connecting to it fails or its connection
breaks, then leaves it alone for a short backoff. The ring is fetched again
every `ring_refresh_s`, and soon after an UNAVAILABLE answer or a connection
error, since the cluster may have changed. Without a ring (routing off, or
no node answered a RingRequest yet) a request goes to the first node of
`nodes` believed up.

Pipelining: every *_async method returns a concurrent.futures.Future at
once; many may be in flight on one connection, answered in any order. The
blocking methods wait on that future. One Client may be shared by threads.
Futures settle on the client's I/O thread (wire.py), so callbacks added to
them should be short, and may call only the *_async methods: a blocking
call there would wait for the thread it blocks, and raises RuntimeError.

Retries: a request is sent again to the next candidate only when it cannot
have been applied (the connection failed before it was sent), or when it
is a read. A write whose connection broke after sending fails with code
CONNECTION (errors.py): it may or may not have been applied.
"""
import concurrent.futures
import itertools
import ssl
import threading
import time

from . import client_pb2
from .errors import ClientTimeout, ConnectionFailed, DynkvError
from .objects import Entry, as_bytes, context_bytes, level
from .ring import Ring
from .wire import Connection, IoThread, split_address

# A refresh asked for by an error waits at least this long after the last
# one, so a burst of UNAVAILABLE answers costs one RingRequest, not one each.
_MIN_RING_REFRESH_S = 1.0
# A node that refused a connection is skipped for this long, doubling per
# failure in a row up to the maximum, then tried again.
_DOWN_BACKOFF_S = 0.5
_DOWN_BACKOFF_MAX_S = 8.0
# How much longer than the node's own timeout the client waits for its
# answer by default, so that a node's TIMEOUT (which says how many replicas
# answered) arrives before the client gives up.
_ANSWER_GRACE_S = 0.5


class Client:
    def __init__(self, nodes, timeout=5.0, token=None, routing=True, ring_refresh_s=30.0,
                 answer_grace_s=_ANSWER_GRACE_S, ca_file=None, tls_context=None):
        """`nodes`: "HOST:PORT" client addresses to start from (one is
        enough; the ring names the rest). `timeout`: seconds a request may
        take, sent to the node as its timeout. `token`: the client token
        (a node with security.clients): every connection authenticates with
        it first; a refused token fails requests with UNAUTHENTICATED. `routing`: send each key to
        a replica (True) or everything to the first node of `nodes`.
        `answer_grace_s`: seconds a key-value request waits for the node's
        answer beyond the timeout the node was given, before it fails with
        CLIENT_TIMEOUT (a node that is paused or overloaded answers late).
        `ca_file`: speak TLS to nodes with security.tls, trusting the CA
        certificate(s) in this PEM file; each node's certificate must name
        the address connected to. `tls_context`: an ssl.SSLContext of your
        own instead (client certificates, pinned ciphers)."""
        if isinstance(nodes, str):
            nodes = [nodes]
        self.nodes = list(dict.fromkeys(nodes))
        if not self.nodes:
            raise ValueError("nodes: at least one HOST:PORT")
        for address in self.nodes:
            split_address(address)
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.timeout = timeout
        if answer_grace_s < 0:
            raise ValueError("answer_grace_s must not be negative")
        self.answer_grace_s = answer_grace_s
        self.token = token
        if ca_file is not None and tls_context is None:
            tls_context = ssl.create_default_context(cafile=ca_file)
        self.tls_context = tls_context
        self.routing = routing
        self.ring_refresh_s = ring_refresh_s
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # guards the five fields below
        self._connections = {}         # address -> Connection
        self._down = {}                # address -> (retry at, failures in a row)
        self._closed = False
        self._io = None                # IoThread, started with the first connection
        self._retries = None           # executor: resends reads whose connection broke
        self._ring = None
        self._ring_lock = threading.Lock()  # one refresh at a time
        self._ring_fetched_at = -_MIN_RING_REFRESH_S
        self._ring_due = 0.0                # time.monotonic() of the next refresh

    # ---- Key-value requests --------------------------------------------------

    def get(self, key, r=None, timeout=None):
        """The key's Entry (no siblings when missing)."""
        return self._wait(self.get_async(key, r, timeout), timeout)

    def put(self, key, value, context=None, w=None, ttl=None, timeout=None):
        """Writes `value`; returns the Entry the key holds after the write.
        `context` (a Context, or the Entry read) makes the write replace the
        siblings it covers; without it the write is kept beside them. `ttl`:
        seconds until it expires."""
        return self._wait(self.put_async(key, value, context, w, ttl, timeout), timeout)

    def delete(self, key, context=None, w=None, timeout=None):
        """Deletes what `context` covers (what a read saw); without one,
        nothing that was not seen."""
        return self._wait(self.delete_async(key, context, w, timeout), timeout)

    def batch_get(self, keys, r=None, timeout=None):
        """A list in key order: an Entry, or the DynkvError of that key."""
        return self._wait(self.batch_get_async(keys, r, timeout), timeout)

    def batch_put(self, items, w=None, ttl=None, timeout=None):
        """`items`: (key, value) or (key, value, context) tuples, or a dict of
        key -> value. A list in item order: an Entry, or that item's DynkvError."""
        return self._wait(self.batch_put_async(items, w, ttl, timeout), timeout)

    def get_async(self, key, r=None, timeout=None):
        key = as_bytes(key, "key")
        timeout = self._timeout(timeout)
        request = self._request()
        request.get.key = key
        request.get.r = level(r, "r")
        request.get.timeout_ms = _ms(timeout)
        return self._submit(request, "get", lambda m: Entry.from_proto(key, m), key, retry_safe=True,
                            wait_s=timeout + self.answer_grace_s)

    def put_async(self, key, value, context=None, w=None, ttl=None, timeout=None):
        key = as_bytes(key, "key")
        timeout = self._timeout(timeout)
        request = self._request()
        _fill_put(request.put, key, value, context, w, ttl, timeout)
        return self._submit(request, "put", lambda m: Entry.from_proto(key, m), key, retry_safe=False,
                            wait_s=timeout + self.answer_grace_s)

    def delete_async(self, key, context=None, w=None, timeout=None):
        key = as_bytes(key, "key")
        timeout = self._timeout(timeout)
        request = self._request()
        request.delete.key = key
        request.delete.context = context_bytes(context)
        request.delete.w = level(w, "w")
        request.delete.timeout_ms = _ms(timeout)
        return self._submit(request, "delete", lambda m: None, key, retry_safe=False,
                            wait_s=timeout + self.answer_grace_s)

    def batch_get_async(self, keys, r=None, timeout=None):
        keys = [as_bytes(k, "key") for k in keys]
        timeout = self._timeout(timeout)
        r = level(r, "r")

        def send(indexes):
            request = self._request()
            for i in indexes:
                get = request.batch_get.gets.add()
                get.key, get.r, get.timeout_ms = keys[i], r, _ms(timeout)
            decode = _batch_decoder([keys[i] for i in indexes])
            return self._submit(request, "batch_get", decode, keys[indexes[0]], retry_safe=True,
                                wait_s=timeout + self.answer_grace_s)

        return self._batch(keys, send)

    def batch_put_async(self, items, w=None, ttl=None, timeout=None):
        if isinstance(items, dict):
            items = items.items()
        items = [(as_bytes(item[0], "key"), *item[1:]) for item in items]
        for item in items:
            if len(item) not in (2, 3):
                raise ValueError("batch_put items are (key, value) or (key, value, context)")
        timeout = self._timeout(timeout)

        def send(indexes):
            request = self._request()
            for i in indexes:
                key, value, *context = items[i]
                _fill_put(request.batch_put.puts.add(), key, value, context[0] if context else None, w, ttl, timeout)
            decode = _batch_decoder([items[i][0] for i in indexes])
            return self._submit(request, "batch_put", decode, items[indexes[0]][0], retry_safe=False,
                                wait_s=timeout + self.answer_grace_s)

        return self._batch([item[0] for item in items], send)

    # ---- Cluster requests ----------------------------------------------------

    def ping(self, node=None):
        """The node id of `node` (HOST:PORT), or of any node."""
        request = self._request()
        request.ping.SetInParent()
        return self._wait(self._submit(request, "ping", lambda m: m.node_id, None, retry_safe=True, node=node))

    def stats(self, node=None):
        """The counters of `node` (HOST:PORT), or of any node: {name: value}."""
        request = self._request()
        request.stats.SetInParent()
        return self._wait(self._submit(request, "stats", lambda m: dict(m.values), None, retry_safe=True,
                                       node=node))

    def route(self, key):
        """The addresses a request for `key` would try, in order (the first
        is where it goes unless that connection fails)."""
        return self._candidates(as_bytes(key, "key"))

    def members(self, node=None):
        """Every node `node` (or any node) knows, as it sees them: a list of
        dicts with node_id, status (joining, normal, leaving, left), up,
        client_address and tokens."""
        request = self._request()
        request.members.SetInParent()
        return self._wait(self._submit(request, "members", _members, None, retry_safe=True, node=node))

    def ring(self):
        """The ring as a node sees it now (also refreshes the client's)."""
        if self._on_io_thread():
            raise RuntimeError("ring() waits for an answer: not from a future's callback")
        with self._ring_lock:
            self._refresh_ring()
        if self._ring is None:
            raise ConnectionFailed("no node answered a RingRequest")
        return self._ring

    def close(self):
        """Closes every connection; requests in flight fail with CONNECTION."""
        with self._lock:
            self._closed = True
            connections = list(self._connections.values())
            self._connections.clear()
            io, retries = self._io, self._retries
        for conn in connections:
            conn.close()
        if retries is not None:
            retries.shutdown(wait=False)
        if io is not None:
            io.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- Requests in flight --------------------------------------------------

    def _request(self):
        return client_pb2.Request(id=next(self._ids))

    def _timeout(self, timeout):
        if timeout is None:
            return self.timeout
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        return timeout

    def _submit(self, request, field, decode, key, retry_safe, wait_s=None, node=None):
        if self._closed:
            raise ConnectionFailed("the client is closed")
        candidates = [node] if node is not None else self._candidates(key)
        call = _Call(self, request, field, decode, candidates, retry_safe,
                     time.monotonic() + (wait_s if wait_s is not None else self.timeout))
        self._dispatch(call)
        return call.future

    def _dispatch(self, call):
        """Sends `call` to its next candidate that accepts a connection."""
        error = None
        while call.candidates:
            if time.monotonic() >= call.deadline:
                return call.settle(error=ClientTimeout("no node answered in time"))
            address = call.candidates.pop(0)
            try:
                conn = self._connection(address, call.deadline)
            except DynkvError as e:
                if e.code == "UNAUTHENTICATED":
                    return call.settle(error=e)  # every node would refuse the token alike
                error = e
                continue
            if conn.send(call):
                return
        call.settle(error=error or ConnectionFailed("no node to send to"))

    def _wait(self, future, timeout=None):
        if self._on_io_thread():
            raise RuntimeError("a blocking dynkv call in a future's callback would wait for itself: "
                               "use the *_async methods there")
        # Every call settles by its deadline (the I/O thread expires it); the
        # bound here only guards against a bug leaving it unsettled.
        try:
            return future.result(timeout=2 * ((timeout or self.timeout) + self.answer_grace_s) + 10)
        except concurrent.futures.TimeoutError:
            raise ClientTimeout("the request never settled") from None

    def _on_io_thread(self):
        io = self._io
        return io is not None and io.is_current()

    def _batch(self, keys, send):
        """Splits a batch into one request per first candidate, sends them
        pipelined, and gathers the answers in the caller's order."""
        groups = {}
        for i, key in enumerate(keys):
            first = self._candidates(key)[0]
            groups.setdefault(first, []).append(i)
        combined = concurrent.futures.Future()
        results = [None] * len(keys)
        left = [len(groups)]
        lock = threading.Lock()

        def gather(indexes, part):
            error = part.exception()
            answers = [error] * len(indexes) if error else part.result()
            with lock:
                for i, answer in zip(indexes, answers):
                    results[i] = answer
                left[0] -= 1
                done = left[0] == 0
            if done:
                combined.set_result(results)

        if not groups:
            combined.set_result([])
        for indexes in groups.values():
            send(indexes).add_done_callback(lambda part, indexes=indexes: gather(indexes, part))
        return combined

    # ---- Nodes and connections -----------------------------------------------

    def _candidates(self, key):
        """Addresses to try for `key` (None: any node), best first: the key's
        replicas in preference order, then `nodes`, then every other node of
        the ring; those believed up before those believed down."""
        ring = self._current_ring() if self.routing else None
        replicas = []
        if ring is not None and key is not None:
            replicas = [address for _, address in ring.replicas_for_key(key)]
        return self._up_first(replicas, ring)

    def _up_first(self, preferred, ring):
        """`preferred`, then `nodes`, then the ring's other addresses, each
        once; those believed up before those believed down."""
        ordered = list(preferred) + self.nodes
        if ring is not None:
            ordered += ring.addresses.values()
        ordered = [a for a in dict.fromkeys(ordered) if a]
        now = time.monotonic()
        with self._lock:
            down = {a for a in ordered if a in self._down and self._down[a][0] > now}
        return [a for a in ordered if a not in down] + [a for a in ordered if a in down]

    def _connection(self, address, deadline):
        with self._lock:
            if self._closed:
                raise ConnectionFailed("the client is closed")
            conn = self._connections.get(address)
            if conn is not None and not conn.closed:
                return conn
        connect_timeout = max(0.01, min(self.timeout, deadline - time.monotonic()))
        try:
            conn = Connection(address, connect_timeout, self.timeout, self._connection_closed,
                              self.tls_context, self.token)
        except DynkvError as e:
            if e.code != "UNAUTHENTICATED":  # the node is up: it refused the token
                self._node_failed(address)
            raise
        with self._lock:
            existing = self._connections.get(address)
            if self._closed or (existing is not None and not existing.closed):
                spare, conn = conn, existing  # another thread connected first (or the client closed)
            else:
                spare = None
                self._connections[address] = conn
                self._down.pop(address, None)
                if self._io is None:
                    self._io = IoThread()
            io = self._io
        if spare is not None:
            spare.sock.close()  # never sent on, never handed to the I/O thread
        if conn is None:
            raise ConnectionFailed("the client is closed")
        if spare is None:
            io.add(conn)
        return conn

    def _connection_closed(self, conn):
        with self._lock:
            if self._connections.get(conn.address) is conn:
                del self._connections[conn.address]
            closing = self._closed
        # A connection closed while unused (a node's idle timeout) says
        # nothing of the node: the next request connects again, and that
        # attempt tells.
        if not closing and not conn.closed_idle:
            self._node_failed(conn.address)

    def _node_failed(self, address):
        now = time.monotonic()
        with self._lock:
            failures = self._down.get(address, (0, 0))[1] + 1
            backoff = min(_DOWN_BACKOFF_MAX_S, _DOWN_BACKOFF_S * 2 ** (failures - 1))
            self._down[address] = (now + backoff, failures)
        self._ring_may_have_changed()

    # ---- The ring ------------------------------------------------------------

    def _ring_may_have_changed(self):
        self._ring_due = min(self._ring_due, self._ring_fetched_at + _MIN_RING_REFRESH_S)

    def _current_ring(self):
        """The ring, refreshed first when due. Only one thread refreshes; the
        others (and the I/O thread, which cannot wait for an answer) go on
        with the ring they have."""
        if (time.monotonic() >= self._ring_due and not self._on_io_thread()
                and self._ring_lock.acquire(blocking=False)):
            try:
                self._refresh_ring()
            finally:
                self._ring_lock.release()
        return self._ring

    def _refresh_ring(self):
        # REQUIRES: _ring_lock held; not on the I/O thread (it waits for an
        # answer that thread must deliver).
        request = self._request()
        request.ring.SetInParent()
        call = _Call(self, request, "ring", Ring.from_response, self._up_first([], self._ring), True,
                     time.monotonic() + self.timeout)
        self._dispatch(call)
        now = time.monotonic()
        try:
            ring = call.future.result(timeout=self.timeout + 1)
        except (DynkvError, concurrent.futures.TimeoutError):
            # Keep the ring we have (it is likely still right) and try again soon.
            self._ring_due = now + _MIN_RING_REFRESH_S
            return
        self._ring = None if ring.empty() else ring
        self._ring_fetched_at = now
        self._ring_due = now + self.ring_refresh_s

    def _lost(self, call, conn, error):
        """A connection broke with `call` in flight: a read goes on to its
        next candidate; a write cannot know whether it was applied."""
        if not isinstance(error, ConnectionFailed):
            return call.settle(error=error)  # the node's own answer (wire.py: a rejected frame)
        if call.retry_safe and call.candidates:
            return self._retry(call)
        consequence = "no node is left to ask" if call.retry_safe else "it had been sent and may have been applied"
        call.settle(error=ConnectionFailed(f"{error.message}; {consequence}", conn.address))

    def _retry(self, call):
        """Sends `call` to its next candidate, off the I/O thread: connecting
        may take up to the timeout, and that thread must keep reading."""
        with self._lock:
            if self._retries is None and not self._closed:
                self._retries = concurrent.futures.ThreadPoolExecutor(max_workers=2,
                                                                      thread_name_prefix="dynkv-retry")
            retries = self._retries
        try:
            retries.submit(self._dispatch, call)
        except (AttributeError, RuntimeError):  # closed (no executor, or shut down)
            call.settle(error=ConnectionFailed("the client is closed"))


class _Call:
    """One request between submit and its settling (see wire.py)."""

    def __init__(self, client, request, field, decode, candidates, retry_safe, deadline):
        self.client = client
        self.request = request
        self.field = field
        self.decode = decode
        self.candidates = candidates
        self.retry_safe = retry_safe
        self.deadline = deadline
        self.future = concurrent.futures.Future()

    def settle(self, result=None, error=None):
        try:
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass  # settled already

    def on_response(self, response, conn):
        which = response.WhichOneof("result")
        if which == "error":
            code = client_pb2.ErrorCode.Name(response.error.code)
            if response.error.code == client_pb2.UNAVAILABLE:
                self.client._ring_may_have_changed()
            return self.settle(error=DynkvError(code, response.error.message, conn.address))
        if which != self.field:
            return self.settle(error=DynkvError("INTERNAL", f"asked {self.field}, {conn.address} answered {which}",
                                                conn.address))
        try:
            result = self.decode(getattr(response, which))
        except Exception as e:  # a decoding bug must still settle the call
            return self.settle(error=DynkvError("INTERNAL", f"decoding the {which} answer failed: {e!r}",
                                                conn.address))
        self.settle(result)

    def on_timeout(self, conn):
        consequence = "" if self.retry_safe else "; the request may have been applied"
        self.settle(error=ClientTimeout(f"no answer from {conn.address} in time{consequence}", conn.address))

    def on_lost(self, conn, error):
        self.client._lost(self, conn, error)


def _members(message):
    return [{"node_id": m.node_id, "status": m.status, "up": m.up, "client_address": m.client_address,
             "tokens": m.tokens} for m in message.members]


def _fill_put(put, key, value, context, w, ttl, timeout):
    put.key = key
    put.value = as_bytes(value, "value")
    put.context = context_bytes(context)
    put.w = level(w, "w")
    if ttl is not None:
        if not isinstance(ttl, int) or not 0 < ttl < 2**32:
            raise ValueError(f"ttl: {ttl!r} is not a whole number of seconds >= 1")
        put.ttl_s = ttl
    put.timeout_ms = _ms(timeout)


def _batch_decoder(keys):
    def decode(message):
        out = []
        for key, result in zip(keys, message.results):
            if result.WhichOneof("result") == "error":
                out.append(DynkvError(client_pb2.ErrorCode.Name(result.error.code), result.error.message))
            else:
                out.append(Entry.from_proto(key, result.ok))
        if len(out) != len(keys):
            raise ValueError(f"{len(keys)} items asked, {len(out)} answered")
        return out
    return decode


def _ms(seconds):
    return max(1, min(2**32 - 1, int(seconds * 1000)))
