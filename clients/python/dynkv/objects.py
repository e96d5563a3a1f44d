"""What the client hands back: siblings, the opaque context, and an Entry
holding both; plus the R and W levels a call may ask for."""
from dataclasses import dataclass

# Reserved R/W values (proto/client.proto, "R and W"), as in Riak's protocol.
ONE = 1
QUORUM = 4294967293  # floor(N/2) + 1
ALL = 4294967292     # N
LOCAL_QUORUM = 4294967291  # a quorum of the coordinator's datacenter
EACH_QUORUM = 4294967290   # a quorum in every datacenter
_NAMED_LEVELS = {"one": ONE, "quorum": QUORUM, "all": ALL, "local_quorum": LOCAL_QUORUM,
                 "each_quorum": EACH_QUORUM}


def level(value, name):
    """The wire value of an R or W argument: None (the node's default), a
    count of replicas, or "one", "quorum", "all", "local_quorum",
    "each_quorum"."""
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return _NAMED_LEVELS[value.lower()]
        except KeyError:
            raise ValueError(f"{name}: {value!r} is not one of one, quorum, all, local_quorum, each_quorum "
                             "or a count") from None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**32:
        raise ValueError(f"{name}: {value!r} is not one of one, quorum, all or a count >= 1")
    return value


def as_bytes(value, name):
    """Keys and values are bytes; a str is sent as UTF-8."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes or str, not {type(value).__name__}")


class Context:
    """The causal context of a read or write, opaque to the client. Pass it
    back with the next put or delete of the same key so that the write
    replaces the siblings it covers; without it a write is blind and is kept
    beside them."""

    __slots__ = ("_raw",)

    def __init__(self, raw=b""):
        self._raw = bytes(raw)

    def __bytes__(self):
        return self._raw

    def __bool__(self):
        return bool(self._raw)

    def __eq__(self, other):
        return isinstance(other, Context) and other._raw == self._raw

    def __hash__(self):
        return hash(self._raw)

    def __repr__(self):
        return f"Context({len(self._raw)} bytes)"


def context_bytes(context):
    """The wire bytes of a put/delete `context` argument: None, a Context,
    an Entry (its context) or raw bytes."""
    if context is None:
        return b""
    if isinstance(context, Entry):
        return bytes(context.context)
    if isinstance(context, (Context, bytes, bytearray)):
        return bytes(context)
    raise TypeError(f"context must be a Context, an Entry or bytes, not {type(context).__name__}")


@dataclass(frozen=True)
class Sibling:
    value: bytes
    write_time_ms: int   # milliseconds since the Unix epoch, by the node's clock
    expires_at_ms: int   # 0: never

    @classmethod
    def from_proto(cls, sibling):
        return cls(sibling.value, sibling.write_time_ms, sibling.expires_at_ms)


@dataclass(frozen=True)
class Entry:
    """A key's siblings and the context that covers exactly them: what a get
    read, or what a put left. No siblings: the key is missing (or deleted)."""
    key: bytes
    siblings: tuple
    context: Context

    @classmethod
    def from_proto(cls, key, message):
        return cls(key, tuple(Sibling.from_proto(s) for s in message.siblings), Context(message.context))

    @property
    def found(self):
        return bool(self.siblings)

    @property
    def values(self):
        """Every sibling's value, in the node's order."""
        return [s.value for s in self.siblings]

    @property
    def value(self):
        """The one value; None when missing. Raises ValueError when there are
        siblings, which a caller must resolve rather than pick one blindly."""
        if not self.siblings:
            return None
        if len(self.siblings) > 1:
            raise ValueError(f"key {self.key!r} has {len(self.siblings)} siblings: read .values and "
                             f"write the resolved value with this entry's context")
        return self.siblings[0].value
