"""XXH3-64 with seed 0 and the default secret, in pure Python.

dynkv places a key on its ring at XXH3-64(key) (DESIGN.md: Ring), so a
client that routes by key must compute exactly that hash. This follows the
public xxHash specification (Yann Collet, doc/xxhash_spec.md, "XXH3
Algorithm Overview"); the primes and the 192-byte default secret are the
published constants of that specification. Every length class of the spec
is here: 0, 1-3, 4-8, 9-16, 17-128, 129-240 and more than 240 bytes.

When Debian's python3-xxhash happens to be importable it is used instead,
for speed; nothing requires it.
"""
import struct

_MASK64 = (1 << 64) - 1

PRIME32_1 = 0x9E3779B1
PRIME32_2 = 0x85EBCA77
PRIME32_3 = 0xC2B2AE3D
PRIME64_1 = 0x9E3779B185EBCA87
PRIME64_2 = 0xC2B2AE3D27D4EB4F
PRIME64_3 = 0x165667B19E3779F9
PRIME64_4 = 0x85EBCA77C2B2AE63
PRIME64_5 = 0x27D4EB2F165667C5
PRIME_MX1 = 0x165667919E3779F9
PRIME_MX2 = 0x9FB21C651E98DF25

SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1c"
    "ded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221"
    "b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea3"
    "71644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d"
    "8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb"
    "170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce"
    "45cb3a8f95160428afd7fbcabb4b407e"
)

_STRIPE_LEN = 64
_SECRET_CONSUME_RATE = 8
_STRIPES_PER_BLOCK = (len(SECRET) - _STRIPE_LEN) // _SECRET_CONSUME_RATE  # 16
_BLOCK_LEN = _STRIPE_LEN * _STRIPES_PER_BLOCK  # 1024
_SECRET_SIZE_MIN = 136
_MIDSIZE_STARTOFFSET = 3
_MIDSIZE_LASTOFFSET = 17
_SECRET_LASTACC_START = 7
_SECRET_MERGEACCS_START = 11

_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from
_stripe = struct.Struct("<8Q").unpack_from


def _read32(data, offset):
    return _u32(data, offset)[0]


def _read64(data, offset):
    return _u64(data, offset)[0]


# The secret as little-endian 64-bit words at every byte offset: the short
# and mid-size paths read it at odd offsets (e.g. 3 and 119).
_SECRET64 = [_read64(SECRET, i) for i in range(len(SECRET) - 7)]


def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & _MASK64


def _swap32(x):
    return int.from_bytes(x.to_bytes(4, "little"), "big")


def _swap64(x):
    return int.from_bytes(x.to_bytes(8, "little"), "big")


def _mul128_fold64(a, b):
    product = a * b
    return (product ^ (product >> 64)) & _MASK64


def _xxh64_avalanche(h):
    h ^= h >> 33
    h = (h * PRIME64_2) & _MASK64
    h ^= h >> 29
    h = (h * PRIME64_3) & _MASK64
    return h ^ (h >> 32)


def _avalanche(h):
    h ^= h >> 37
    h = (h * PRIME_MX1) & _MASK64
    return h ^ (h >> 32)


def _rrmxmx(h, length):
    h ^= _rotl64(h, 49) ^ _rotl64(h, 24)
    h = (h * PRIME_MX2) & _MASK64
    h ^= (h >> 35) + length
    h = (h * PRIME_MX2) & _MASK64
    return h ^ (h >> 28)


def _mix16(data, offset, secret_offset):
    return _mul128_fold64(_read64(data, offset) ^ _SECRET64[secret_offset],
                          _read64(data, offset + 8) ^ _SECRET64[secret_offset + 8])


def _len_0():
    return _xxh64_avalanche(_SECRET64[56] ^ _SECRET64[64])


def _len_1to3(data, length):
    combined = (data[0] << 16) | (data[length >> 1] << 24) | data[length - 1] | (length << 8)
    bitflip = _read32(SECRET, 0) ^ _read32(SECRET, 4)
    return _xxh64_avalanche(combined ^ bitflip)


def _len_4to8(data, length):
    # With seed 0 the spec's seed adjustment (seed ^ swap32(seed) << 32) is 0.
    low = _read32(data, length - 4)
    high = _read32(data, 0)
    bitflip = _SECRET64[8] ^ _SECRET64[16]
    return _rrmxmx(((high << 32) + low) ^ bitflip, length)


def _len_9to16(data, length):
    low = _read64(data, 0) ^ _SECRET64[24] ^ _SECRET64[32]
    high = _read64(data, length - 8) ^ _SECRET64[40] ^ _SECRET64[48]
    acc = length + _swap64(low) + high + _mul128_fold64(low, high)
    return _avalanche(acc & _MASK64)


def _len_17to128(data, length):
    acc = length * PRIME64_1
    # Pairs of 16-byte lanes from both ends, outermost first in the spec's
    # order; a longer input adds inner pairs.
    if length > 32:
        if length > 64:
            if length > 96:
                acc += _mix16(data, 48, 96) + _mix16(data, length - 64, 112)
            acc += _mix16(data, 32, 64) + _mix16(data, length - 48, 80)
        acc += _mix16(data, 16, 32) + _mix16(data, length - 32, 48)
    acc += _mix16(data, 0, 0) + _mix16(data, length - 16, 16)
    return _avalanche(acc & _MASK64)


def _len_129to240(data, length):
    acc = length * PRIME64_1
    for i in range(8):
        acc += _mix16(data, 16 * i, 16 * i)
    acc = _avalanche(acc & _MASK64)
    for i in range(8, length // 16):
        acc += _mix16(data, 16 * i, 16 * (i - 8) + _MIDSIZE_STARTOFFSET)
    acc += _mix16(data, length - 16, _SECRET_SIZE_MIN - _MIDSIZE_LASTOFFSET)
    return _avalanche(acc & _MASK64)


def _accumulate_512(acc, data, offset, secret_offset):
    lanes = _stripe(data, offset)
    for i in range(8):
        value = lanes[i]
        keyed = value ^ _SECRET64[secret_offset + 8 * i]
        acc[i ^ 1] = (acc[i ^ 1] + value) & _MASK64
        acc[i] = (acc[i] + (keyed & 0xFFFFFFFF) * (keyed >> 32)) & _MASK64


def _scramble(acc):
    secret_offset = len(SECRET) - _STRIPE_LEN
    for i in range(8):
        a = acc[i]
        a ^= a >> 47
        a ^= _SECRET64[secret_offset + 8 * i]
        acc[i] = (a * PRIME32_1) & _MASK64


def _len_long(data, length):
    acc = [PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1]
    blocks = (length - 1) // _BLOCK_LEN
    for block in range(blocks):
        start = block * _BLOCK_LEN
        for stripe in range(_STRIPES_PER_BLOCK):
            _accumulate_512(acc, data, start + stripe * _STRIPE_LEN, stripe * _SECRET_CONSUME_RATE)
        _scramble(acc)
    # The last partial block holds whole stripes, then the input's last 64
    # bytes are one more stripe (overlapping the previous one as needed).
    start = blocks * _BLOCK_LEN
    for stripe in range(((length - 1) - start) // _STRIPE_LEN):
        _accumulate_512(acc, data, start + stripe * _STRIPE_LEN, stripe * _SECRET_CONSUME_RATE)
    _accumulate_512(acc, data, length - _STRIPE_LEN, len(SECRET) - _STRIPE_LEN - _SECRET_LASTACC_START)

    result = (length * PRIME64_1) & _MASK64
    for i in range(4):
        base = _SECRET_MERGEACCS_START + 16 * i
        result += _mul128_fold64(acc[2 * i] ^ _SECRET64[base], acc[2 * i + 1] ^ _SECRET64[base + 8])
    return _avalanche(result & _MASK64)


def xxh3_64_python(data):
    """XXH3-64 of `data` (bytes-like), seed 0, as an int in [0, 2^64)."""
    data = bytes(data)
    length = len(data)
    if length <= 16:
        if length > 8:
            return _len_9to16(data, length)
        if length >= 4:
            return _len_4to8(data, length)
        if length > 0:
            return _len_1to3(data, length)
        return _len_0()
    if length <= 128:
        return _len_17to128(data, length)
    if length <= 240:
        return _len_129to240(data, length)
    return _len_long(data, length)


def _accelerated():
    try:
        import xxhash  # Debian's python3-xxhash, when present
    except ImportError:
        return None
    return getattr(xxhash, "xxh3_64_intdigest", None)


xxh3_64 = _accelerated() or xxh3_64_python
