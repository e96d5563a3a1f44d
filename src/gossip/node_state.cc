#include <algorithm>

#include "gossip/gossip.h"

namespace dynkv::gossip {

std::string_view StatusName(NodeStatus status) {
  switch (status) {
    case NodeStatus::kJoining:
      return "joining";
    case NodeStatus::kNormal:
      return "normal";
    case NodeStatus::kLeaving:
      return "leaving";
    case NodeStatus::kLeft:
      return "left";
    case NodeStatus::kReplacing:
      return "replacing";
  }
  return "unknown";
}

uint64_t NodeState::MaxVersion() const { return std::max(heartbeat, StateVersion()); }

uint64_t NodeState::StateVersion() const {
  return std::max({status_version, addresses_version, tokens_version, location_version, movement_version,
                   suspects_version, alive_version});
}

bool NodeState::IsComplete() const {
  return heartbeat > 0 && status_version > 0 && addresses_version > 0 && tokens_version > 0 &&
         location_version > 0;
}

NodeState NodeState::DeltaAbove(uint64_t version) const {
  NodeState delta;
  delta.node_id = node_id;
  delta.generation = generation;
  if (heartbeat > version) delta.heartbeat = heartbeat;
  if (status_version > version) {
    delta.status = status;
    delta.status_version = status_version;
  }
  if (addresses_version > version) {
    delta.client_address = client_address;
    delta.peer_address = peer_address;
    delta.addresses_version = addresses_version;
  }
  if (tokens_version > version) {
    delta.tokens = tokens;
    delta.tokens_version = tokens_version;
  }
  if (location_version > version) {
    delta.datacenter = datacenter;
    delta.rack = rack;
    delta.replication_digest = replication_digest;
    delta.location_version = location_version;
  }
  if (movement_version > version) {
    delta.ring_version = ring_version;
    delta.streamed_version = streamed_version;
    delta.movement_version = movement_version;
  }
  if (suspects_version > version) {
    delta.suspects = suspects;
    delta.suspects_version = suspects_version;
  }
  if (alive_version > version) delta.alive_version = alive_version;
  return delta;
}

}  // namespace dynkv::gossip
