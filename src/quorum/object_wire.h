// Objects on the peer wire (proto/peer.proto StoredObject), for replication
// and hinted handoff. Wire types stay apart from the in-memory Object.
#pragma once

#include "common/object.h"
#include "common/status.h"
#include "peer.pb.h"

namespace dynkv::quorum {

void ToProto(const Object& object, peer::StoredObject* out);
// INVALID_ARGUMENT for anything that breaks object.h's invariants (unsorted
// or duplicate actors, zero counters, a sibling its version vector does not
// cover, two siblings with one dot): a peer's bytes are never trusted.
Result<Object> FromProto(const peer::StoredObject& in);

}  // namespace dynkv::quorum
