// The node's identity in its data dir: the node id it was created for and
// a random epoch drawn when the data dir was new. The actor that mints dots
// is "<node_id>.<epoch>", so a node restarted on an empty data dir never
// reuses counters of its earlier life (Riak's kv679 data loss).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/object.h"
#include "common/status.h"
#include "storage/storage.h"

namespace dynkv::node {

struct Identity {
  ActorId actor;  // "<node_id>.<epoch>"
  // This start's gossip generation: the wall clock in ms, raised above the
  // last start's when the clock went back, and stored for the next start.
  uint64_t generation = 0;
  std::vector<uint64_t> tokens;  // empty until the node first joined a ring
  // A change of this node's own under way (gossip::MovementRecord: "join",
  // "replace", "leave"); empty when none.
  std::string movement;
  // The last lease of the node's MintCounter (metadata "mint_lease"); 0: none.
  uint64_t mint_lease = 0;
};

// Reads the identity, or writes a new one in a fresh data dir (its epoch
// drawn from `random`), and records this start's generation. Fails when the
// data dir belongs to another node id or its stored tokens do not decode.
Result<Identity> LoadOrCreateIdentity(storage::Engine& engine, const std::string& node_id,
                                      const std::string& data_dir, int64_t now_ms, uint64_t random);

// Draws and stores a new epoch (unlike the current one) and returns the new
// actor. A node calls it before it deletes data it may have minted dots into
// (the cleanup of a range it no longer replicates): a later write of such a
// key would otherwise start its counter again from an empty object and mint
// a dot already in use elsewhere, which the other replicas drop as seen.
Result<ActorId> RenewEpoch(storage::Engine& engine, const std::string& node_id, uint64_t random);

// Stores the tokens a node took when it joined (metadata "tokens").
Status StoreTokens(storage::Engine& engine, const std::vector<uint64_t>& tokens);
// Stores the MintCounter's lease (metadata "mint_lease"), synced.
Status StoreMintLease(storage::Engine& engine, uint64_t lease);
// Stores the movement record (metadata "movement"); empty when done.
Status StoreMovement(storage::Engine& engine, const std::string& movement);

}  // namespace dynkv::node
