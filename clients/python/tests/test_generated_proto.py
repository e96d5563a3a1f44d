"""dynkv/client_pb2.py is committed (so the package works from the source
tree and installs without protoc); this fails when it is no longer what
protoc generates from proto/client.proto, i.e. someone changed the protocol
and forgot to regenerate it:

    protoc --proto_path=proto --python_out=clients/python/dynkv proto/client.proto
"""
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "..", "proto")
COMMITTED = os.path.join(HERE, "..", "dynkv", "client_pb2.py")


class GeneratedProtoTest(unittest.TestCase):
    def test_committed_module_is_what_protoc_generates(self):
        protoc = shutil.which("protoc")
        self.assertIsNotNone(protoc, "protoc (Debian's protobuf-compiler, tools/setup.sh) is needed to check "
                                     "dynkv/client_pb2.py against proto/client.proto")
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([protoc, f"--proto_path={PROTO_DIR}", f"--python_out={out}",
                            os.path.join(PROTO_DIR, "client.proto")], check=True, timeout=60)
            with open(os.path.join(out, "client_pb2.py"), "rb") as f:
                generated = f.read()
        with open(COMMITTED, "rb") as f:
            committed = f.read()
        self.assertTrue(generated == committed,
                        "clients/python/dynkv/client_pb2.py differs from protoc's output for proto/client.proto: "
                        "regenerate it with protoc --proto_path=proto --python_out=clients/python/dynkv "
                        "proto/client.proto")


if __name__ == "__main__":
    unittest.main()
