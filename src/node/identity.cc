#include "node/identity.h"

#include <algorithm>
#include <cstdio>

#include "common/coding.h"
#include "ring/ring.h"

namespace dynkv::node {

namespace {

constexpr const char* kNodeIdMeta = "node_id";
constexpr const char* kEpochMeta = "epoch";
constexpr const char* kGenerationMeta = "generation";
constexpr const char* kTokensMeta = "tokens";
constexpr const char* kMovementMeta = "movement";
constexpr const char* kMintLeaseMeta = "mint_lease";

std::string NewEpoch(uint64_t random) {
  const auto epoch = static_cast<uint32_t>(random ^ (random >> 32));
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x", epoch);
  return hex;
}

Result<ActorId> LoadOrCreateActor(storage::Engine& engine, const std::string& node_id,
                                  const std::string& data_dir, uint64_t random) {
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

  const std::string epoch = NewEpoch(random);
  // The epoch first: a crash between the two writes leaves a data dir that
  // is still new, never one with an id and no epoch.
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kEpochMeta, epoch));
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kNodeIdMeta, node_id));
  return node_id + "." + epoch;
}

// max(now, last + 1): a generation only ever grows, even when the clock
// went back, or gossip would take the restarted node for its old self.
Result<uint64_t> NextGeneration(storage::Engine& engine, int64_t now_ms) {
  uint64_t last = 0;
  auto stored = engine.GetMeta(kGenerationMeta);
  if (stored.ok()) {
    if (stored->size() != 8) return Status::Corruption("stored generation has " + std::to_string(stored->size()) + " bytes");
    last = DecodeFixed64BE(stored->data());
  } else if (stored.status().code() != Code::kNotFound) {
    return stored.status();
  }
  const uint64_t generation = std::max<uint64_t>(static_cast<uint64_t>(std::max<int64_t>(now_ms, 1)), last + 1);
  std::string bytes;
  PutFixed64BE(&bytes, generation);
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kGenerationMeta, bytes));
  return generation;
}

}  // namespace

Result<Identity> LoadOrCreateIdentity(storage::Engine& engine, const std::string& node_id,
                                      const std::string& data_dir, int64_t now_ms, uint64_t random) {
  Identity identity;
  auto actor = LoadOrCreateActor(engine, node_id, data_dir, random);
  if (!actor.ok()) return actor.status();
  identity.actor = std::move(*actor);
  auto generation = NextGeneration(engine, now_ms);
  if (!generation.ok()) return generation.status().WithContext("data dir " + data_dir);
  identity.generation = *generation;
  auto stored_tokens = engine.GetMeta(kTokensMeta);
  if (stored_tokens.ok()) {
    auto tokens = ring::DecodeTokens(*stored_tokens);
    if (!tokens.ok()) return tokens.status().WithContext("data dir " + data_dir + " holds unreadable tokens");
    identity.tokens = std::move(*tokens);
  } else if (stored_tokens.status().code() != Code::kNotFound) {
    return stored_tokens.status();
  }
  auto lease = engine.GetMeta(kMintLeaseMeta);
  if (lease.ok() && lease->size() == 8) {
    identity.mint_lease = DecodeFixed64BE(lease->data());
  } else if (lease.ok() || lease.status().code() != Code::kNotFound) {
    return lease.ok() ? Status::Corruption("data dir " + data_dir + " holds an unreadable mint lease")
                      : lease.status();
  }
  auto movement = engine.GetMeta(kMovementMeta);
  if (movement.ok()) {
    identity.movement = std::move(*movement);
  } else if (movement.status().code() != Code::kNotFound) {
    return movement.status();
  }
  return identity;
}

Result<ActorId> RenewEpoch(storage::Engine& engine, const std::string& node_id, uint64_t random) {
  auto current = engine.GetMeta(kEpochMeta);
  if (!current.ok()) return current.status().WithContext("cannot read the epoch to renew it");
  std::string epoch = NewEpoch(random);
  if (epoch == *current) epoch = NewEpoch(random ^ 1);
  DYNKV_RETURN_IF_ERROR(engine.PutMeta(kEpochMeta, epoch));
  return node_id + "." + epoch;
}

Status StoreTokens(storage::Engine& engine, const std::vector<uint64_t>& tokens) {
  return engine.PutMeta(kTokensMeta, ring::EncodeTokens(tokens));
}

Status StoreMintLease(storage::Engine& engine, uint64_t lease) {
  std::string bytes;
  PutFixed64BE(&bytes, lease);
  return engine.PutMeta(kMintLeaseMeta, bytes);
}

Status StoreMovement(storage::Engine& engine, const std::string& movement) {
  return engine.PutMeta(kMovementMeta, movement);
}

}  // namespace dynkv::node
