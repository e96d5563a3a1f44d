"""The pure-Python XXH3-64 against the C library the nodes hash keys with
(libxxhash, Debian's libxxhash0): a client routes a key to the wrong node if
they differ on any input."""
import ctypes
import random
import unittest

from dynkv import xxh3

# (shortest, longest) of each of the spec's length classes, the long one
# capped at a few KiB: several 1 KiB blocks, a partial block and the last
# stripe.
LENGTH_CLASSES = [(1, 3), (4, 8), (9, 16), (17, 128), (129, 240), (241, 4096)]
INPUTS_PER_CLASS = 1000


def load_libxxhash():
    lib = ctypes.CDLL("libxxhash.so.0")
    lib.XXH3_64bits.restype = ctypes.c_uint64
    lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    return lambda data: lib.XXH3_64bits(data, len(data))


class Xxh3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reference = staticmethod(load_libxxhash())

    def check(self, data):
        self.assertEqual(xxh3.xxh3_64_python(data), self.reference(data), f"{len(data)} bytes: {data[:32].hex()}")

    def test_empty_input(self):
        self.check(b"")

    def test_random_inputs_of_every_length_class(self):
        rng = random.Random(15)
        for low, high in LENGTH_CLASSES:
            with self.subTest(lengths=f"{low}-{high}"):
                for _ in range(INPUTS_PER_CLASS):
                    self.check(rng.randbytes(rng.randint(low, high)))

    def test_every_length_up_to_two_blocks_and_a_stripe(self):
        # Each boundary of the spec: 3/4, 8/9, 16/17, 32/33, 64/65, 96/97,
        # 128/129, 240/241, stripes of 64 and blocks of 1024 bytes.
        rng = random.Random(16)
        for length in range(0, 2 * 1024 + 65):
            self.check(rng.randbytes(length))

    def test_repeated_bytes(self):
        for length in (1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 1025):
            for byte in (0x00, 0xFF):
                self.check(bytes([byte]) * length)

    def test_the_exported_hash_matches(self):
        # xxh3_64 may be python3-xxhash's when it is importable.
        for data in (b"", b"user:1", bytes(range(256)) * 3):
            self.assertEqual(xxh3.xxh3_64(data), self.reference(data))


if __name__ == "__main__":
    unittest.main()
