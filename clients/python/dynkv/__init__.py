"""dynkv: a Python client for the dynkv key-value store (clients/python/README.md)."""
from .client import Client
from .errors import CLIENT_TIMEOUT, CONNECTION, ClientTimeout, ConnectionFailed, DynkvError
from .objects import ALL, EACH_QUORUM, LOCAL_QUORUM, ONE, QUORUM, Context, Entry, Sibling
from .ring import Ring, key_position

__all__ = [
    "Client", "Entry", "Sibling", "Context", "Ring", "key_position",
    "DynkvError", "ConnectionFailed", "ClientTimeout", "CONNECTION", "CLIENT_TIMEOUT",
    "ONE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM",
]
