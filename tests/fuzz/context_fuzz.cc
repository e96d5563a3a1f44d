// Fuzz target: the causal context a client hands back (quorum/dvv.h
// DecodeContext, opaque bytes from any client) and objects on the peer
// wire (quorum/object_wire.h FromProto, bytes from any peer). The first
// byte chooses: even, the rest is a context; odd, a StoredObject. What
// decodes holds the invariants and round-trips through the encoder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/object.h"
#include "fuzz_check.h"
#include "peer.pb.h"
#include "quorum/dvv.h"
#include "quorum/object_wire.h"

using namespace dynkv;

namespace {

void Context(std::string_view bytes) {
  Result<VersionVector> vv = dvv::DecodeContext(bytes);
  if (!vv.ok()) return;
  Result<VersionVector> again = dvv::DecodeContext(dvv::EncodeContext(*vv));
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *vv);
}

void StoredObject(std::string_view bytes) {
  peer::StoredObject wire;
  if (!wire.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  Result<Object> object = quorum::FromProto(wire);
  if (!object.ok()) return;
  FUZZ_CHECK(CheckObject(*object).ok());
  peer::StoredObject back;
  quorum::ToProto(*object, &back);
  Result<Object> again = quorum::FromProto(back);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(*again == *object);
  // What a replica does with it: merged with itself, nothing changes.
  FUZZ_CHECK(dvv::Sync(*object, *object) == dvv::Sync(*object, Object{}));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    Context(rest);
  } else {
    StoredObject(rest);
  }
  return 0;
}
