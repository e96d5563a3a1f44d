#include "node/identity.h"

#include <cstdio>
#include <random>

namespace dynkv::node {

namespace {

constexpr const char* kNodeIdMeta = "node_id";
constexpr const char* kEpochMeta = "epoch";

std::string NewEpoch() {
  std::random_device device;
  const uint32_t epoch = device();
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", epoch);
  return hex;
}

}  // namespace

Result<ActorId> LoadOrCreateIdentity(storage::Engine& engine, const std::string& node_id,
                                     const std::string& data_dir) {
  auto stored_id = engine.GetMeta(kNodeIdMeta);
  if (stored_id.ok()) {
    if (*stored_id != node_id) {
      return Status::InvalidArgument("data dir " + data_dir + " belongs to node '" + *stored_id + "', not '" +
                                     node_id + "': point data_dir at this node's own directory");
    }
    auto epoch = engine.GetMeta(kEpochMeta);
    if (!epoch.ok()) return epoch.status().WithContext("data dir " + data_dir + " has a node id but no epoch");
    return node_id + "." + *epoch;
  }
  if (stored_id.status().code() != Code::kNotFound) return stored_id.status();

  const std::string epoch = NewEpoch();
  // The epoch first: a crash between the two writes leaves a data dir that
  // is still new, never one with an id and no epoch.
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kEpochMeta, epoch));
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kNodeIdMeta, node_id));
  return node_id + "." + epoch;
}

}  // namespace dynkv::node
