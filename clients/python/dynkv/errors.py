"""Errors raised by the client.

A node's error carries its protocol ErrorCode name (proto/client.proto):
INVALID_ARGUMENT, TOO_LARGE, UNAVAILABLE, TIMEOUT, OVERLOADED, ... Two codes
come from the client itself, because they mean something different: the
node never said whether the request was applied, so a write that fails with
them may or may not have happened (the chaos harness tells these apart when
it judges a history).
"""

CONNECTION = "CONNECTION"          # no node could be reached, or the connection broke
CLIENT_TIMEOUT = "CLIENT_TIMEOUT"  # no answer within the client's deadline


class DynkvError(Exception):
    """A failed request. `code` is an ErrorCode name or one of the client's
    codes above; `node` is the HOST:PORT that answered or failed, if any."""

    def __init__(self, code, message="", node=None):
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.node = node


class ConnectionFailed(DynkvError):
    def __init__(self, message, node=None):
        super().__init__(CONNECTION, message, node)


class ClientTimeout(DynkvError):
    def __init__(self, message, node=None):
        super().__init__(CLIENT_TIMEOUT, message, node)
