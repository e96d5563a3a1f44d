// The node's identity in its data dir: the node id it was created for and
// a random epoch drawn when the data dir was new. The actor that mints dots
// is "<node_id>.<epoch>", so a node restarted on an empty data dir never
// reuses counters of its earlier life (Riak's kv679 data loss).
#pragma once

#include <string>

#include "common/object.h"
#include "common/status.h"
#include "storage/storage.h"

namespace dynkv::node {

// Reads the identity, or writes a new one in a fresh data dir. Fails when
// the data dir belongs to another node id.
Result<ActorId> LoadOrCreateIdentity(storage::Engine& engine, const std::string& node_id,
                                     const std::string& data_dir);

}  // namespace dynkv::node
