// Conversion between the gossip messages in memory and proto/peer.proto.
// Everything from the wire is checked here, so the Gossiper only ever sees
// well-formed states.
#include <charconv>

#include "gossip/gossip.h"
#include "peer.pb.h"

namespace dynkv::gossip {
namespace {

constexpr size_t kMaxNameBytes = 256;  // node ids, cluster names, datacenter, rack
constexpr size_t kMaxAddressBytes = 512;
constexpr size_t kMaxTokens = 1 << 16;

peer::NodeStatus StatusToProto(NodeStatus status) {
  switch (status) {
    case NodeStatus::kJoining:
      return peer::NODE_STATUS_JOINING;
    case NodeStatus::kNormal:
      return peer::NODE_STATUS_NORMAL;
    case NodeStatus::kLeaving:
      return peer::NODE_STATUS_LEAVING;
    case NodeStatus::kLeft:
      return peer::NODE_STATUS_LEFT;
    case NodeStatus::kReplacing:
      return peer::NODE_STATUS_REPLACING;
  }
  return peer::NODE_STATUS_UNKNOWN;
}

Result<NodeStatus> StatusFromProto(int status) {
  switch (status) {
    case peer::NODE_STATUS_JOINING:
      return NodeStatus::kJoining;
    case peer::NODE_STATUS_NORMAL:
      return NodeStatus::kNormal;
    case peer::NODE_STATUS_LEAVING:
      return NodeStatus::kLeaving;
    case peer::NODE_STATUS_LEFT:
      return NodeStatus::kLeft;
    case peer::NODE_STATUS_REPLACING:
      return NodeStatus::kReplacing;
    default:
      return Status::InvalidArgument("unknown node status " + std::to_string(status));
  }
}

Status CheckNodeId(const std::string& node_id) {
  if (node_id.empty()) return Status::InvalidArgument("empty node id");
  if (node_id.size() > kMaxNameBytes) return Status::InvalidArgument("node id longer than 256 bytes");
  return Status::Ok();
}

Status CheckName(const std::string& name, std::string_view what) {
  if (name.size() > kMaxNameBytes)
    return Status::InvalidArgument(std::string(what) + " longer than 256 bytes");
  return Status::Ok();
}

Status CheckAddress(const std::string& address, std::string_view what) {
  if (address.size() > kMaxAddressBytes || !IsHostPort(address)) {
    return Status::InvalidArgument(std::string(what) + " is not HOST:PORT: '" + address.substr(0, 64) + "'");
  }
  return Status::Ok();
}

void DigestToProto(const GossipDigest& digest, peer::GossipDigest* out) {
  out->set_node_id(digest.node_id);
  out->set_generation(digest.generation);
  out->set_max_version(digest.max_version);
}

Result<GossipDigest> DigestFromProto(const peer::GossipDigest& in) {
  DYNKV_RETURN_IF_ERROR(CheckNodeId(in.node_id()).WithContext("digest"));
  if (in.generation() == 0) return Status::InvalidArgument("digest of " + in.node_id() + ": generation 0");
  return GossipDigest{in.node_id(), in.generation(), in.max_version()};
}

Status DecodeDigests(const google::protobuf::RepeatedPtrField<peer::GossipDigest>& in,
                     std::vector<GossipDigest>* out) {
  out->reserve(in.size());
  for (const peer::GossipDigest& digest : in) {
    Result<GossipDigest> decoded = DigestFromProto(digest);
    if (!decoded.ok()) return decoded.status();
    out->push_back(std::move(decoded).value());
  }
  return Status::Ok();
}

Status DecodeStates(const google::protobuf::RepeatedPtrField<peer::VersionedNodeState>& in,
                    std::vector<NodeState>* out) {
  out->reserve(in.size());
  for (const peer::VersionedNodeState& state : in) {
    Result<NodeState> decoded = FromProto(state);
    if (!decoded.ok()) return decoded.status();
    out->push_back(std::move(decoded).value());
  }
  return Status::Ok();
}

}  // namespace

bool IsHostPort(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
  } else if (host.find_first_of(":[] \t") != std::string_view::npos) {
    return false;
  }
  if (port.empty() || port.size() > 5 || port.front() == '0') return false;
  uint32_t value = 0;
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
  return error == std::errc() && end == port.data() + port.size() && value >= 1 && value <= 65535;
}

void ToProto(const NodeState& state, peer::VersionedNodeState* out) {
  out->set_node_id(state.node_id);
  out->set_generation(state.generation);
  out->set_heartbeat_version(state.heartbeat);
  if (state.status_version > 0) {
    out->set_status(StatusToProto(state.status));
    out->set_status_version(state.status_version);
  }
  if (state.addresses_version > 0) {
    out->set_client_address(state.client_address);
    out->set_peer_address(state.peer_address);
    out->set_addresses_version(state.addresses_version);
  }
  if (state.tokens_version > 0) {
    out->mutable_tokens()->Add(state.tokens.begin(), state.tokens.end());
    out->set_tokens_version(state.tokens_version);
  }
  if (state.location_version > 0) {
    out->set_datacenter(state.datacenter);
    out->set_rack(state.rack);
    out->set_replication_digest(state.replication_digest);
    out->set_location_version(state.location_version);
  }
  if (state.movement_version > 0) {
    out->set_ring_version(state.ring_version);
    out->set_streamed_version(state.streamed_version);
    out->set_movement_version(state.movement_version);
  }
  if (state.suspects_version > 0) {
    for (const Suspicion& suspicion : state.suspects) {
      peer::Suspicion* s = out->add_suspects();
      s->set_node_id(suspicion.node_id);
      s->set_generation(suspicion.generation);
      s->set_heartbeat_version(suspicion.heartbeat);
      s->set_incarnation(suspicion.incarnation);
    }
    out->set_suspects_version(state.suspects_version);
  }
  if (state.alive_version > 0) out->set_alive_version(state.alive_version);
}

Status ValidateState(const NodeState& state) {
  DYNKV_RETURN_IF_ERROR(CheckNodeId(state.node_id).WithContext("node state"));
  const std::string context = "state of " + state.node_id;
  if (state.generation == 0) return Status::InvalidArgument(context + ": generation 0");
  if (state.addresses_version > 0) {
    DYNKV_RETURN_IF_ERROR(CheckAddress(state.client_address, "client address").WithContext(context));
    DYNKV_RETURN_IF_ERROR(CheckAddress(state.peer_address, "peer address").WithContext(context));
  }
  if (state.tokens_version > 0 && state.tokens.size() > kMaxTokens) {
    return Status::InvalidArgument(context + ": too many tokens");
  }
  if (state.location_version > 0) {
    DYNKV_RETURN_IF_ERROR(CheckName(state.datacenter, "datacenter").WithContext(context));
    DYNKV_RETURN_IF_ERROR(CheckName(state.rack, "rack").WithContext(context));
  }
  if (state.suspects.size() > kMaxSuspects) return Status::InvalidArgument(context + ": too many suspects");
  for (const Suspicion& suspicion : state.suspects) {
    DYNKV_RETURN_IF_ERROR(CheckNodeId(suspicion.node_id).WithContext(context + ": suspect"));
    if (suspicion.generation == 0) return Status::InvalidArgument(context + ": suspect at generation 0");
  }
  return Status::Ok();
}

Result<NodeState> FromProto(const peer::VersionedNodeState& in) {
  if (in.tokens_size() > static_cast<int>(kMaxTokens)) {
    return Status::InvalidArgument("state of " + in.node_id().substr(0, 64) + ": too many tokens");
  }
  if (in.suspects_size() > static_cast<int>(kMaxSuspects)) {
    return Status::InvalidArgument("state of " + in.node_id().substr(0, 64) + ": too many suspects");
  }
  NodeState state;
  state.node_id = in.node_id();
  state.generation = in.generation();
  state.heartbeat = in.heartbeat_version();
  if (in.status_version() > 0) {
    Result<NodeStatus> status = StatusFromProto(in.status());
    if (!status.ok()) return status.status().WithContext("state of " + state.node_id.substr(0, 64));
    state.status = *status;
    state.status_version = in.status_version();
  }
  if (in.addresses_version() > 0) {
    state.client_address = in.client_address();
    state.peer_address = in.peer_address();
    state.addresses_version = in.addresses_version();
  }
  if (in.tokens_version() > 0) {
    state.tokens.assign(in.tokens().begin(), in.tokens().end());
    state.tokens_version = in.tokens_version();
  }
  if (in.location_version() > 0) {
    state.datacenter = in.datacenter();
    state.rack = in.rack();
    state.replication_digest = in.replication_digest();
    state.location_version = in.location_version();
  }
  if (in.movement_version() > 0) {
    state.ring_version = in.ring_version();
    state.streamed_version = in.streamed_version();
    state.movement_version = in.movement_version();
  }
  if (in.suspects_version() > 0) {
    for (const peer::Suspicion& s : in.suspects()) {
      state.suspects.push_back({s.node_id(), s.generation(), s.heartbeat_version(), s.incarnation()});
    }
    state.suspects_version = in.suspects_version();
  }
  state.alive_version = in.alive_version();
  DYNKV_RETURN_IF_ERROR(ValidateState(state));
  return state;
}

void ToProto(const Syn& syn, peer::GossipSyn* out) {
  out->set_cluster_name(syn.cluster_name);
  for (const GossipDigest& digest : syn.digests) DigestToProto(digest, out->add_digests());
  if (syn.partial) {
    out->set_partial(true);
    out->set_table_hash(syn.table_hash);
  }
}

Result<Syn> FromProto(const peer::GossipSyn& in) {
  Syn syn;
  DYNKV_RETURN_IF_ERROR(CheckName(in.cluster_name(), "cluster name"));
  syn.cluster_name = in.cluster_name();
  DYNKV_RETURN_IF_ERROR(DecodeDigests(in.digests(), &syn.digests).WithContext("gossip syn"));
  syn.partial = in.partial();
  syn.table_hash = in.table_hash();
  return syn;
}

void ToProto(const Ack& ack, peer::GossipAck* out) {
  for (const GossipDigest& request : ack.requests) DigestToProto(request, out->add_requests());
  for (const NodeState& state : ack.states) ToProto(state, out->add_states());
  if (ack.table_differs) out->set_table_differs(true);
}

Result<Ack> FromProto(const peer::GossipAck& in) {
  Ack ack;
  ack.table_differs = in.table_differs();
  DYNKV_RETURN_IF_ERROR(DecodeDigests(in.requests(), &ack.requests).WithContext("gossip ack"));
  DYNKV_RETURN_IF_ERROR(DecodeStates(in.states(), &ack.states).WithContext("gossip ack"));
  return ack;
}

void ToProto(const Ack2& ack2, peer::GossipAck2* out) {
  for (const NodeState& state : ack2.states) ToProto(state, out->add_states());
}

Result<Ack2> FromProto(const peer::GossipAck2& in) {
  Ack2 ack2;
  DYNKV_RETURN_IF_ERROR(DecodeStates(in.states(), &ack2.states).WithContext("gossip ack2"));
  return ack2;
}

void ToProto(const LeaveNotice& notice, peer::LeaveNotice* out) {
  ToProto(notice.state, out->mutable_state());
}

Result<LeaveNotice> FromProto(const peer::LeaveNotice& in) {
  if (!in.has_state()) return Status::InvalidArgument("leave notice without a state");
  Result<NodeState> state = FromProto(in.state());
  if (!state.ok()) return state.status().WithContext("leave notice");
  return LeaveNotice{std::move(state).value()};
}

}  // namespace dynkv::gossip
