// The node's YAML config (docs/OPERATIONS.md lists every key, its default
// and what it does). Keys fixed by the public contract: node_id,
// listen.client, listen.peer, data_dir, seeds, replication.{n,r,w}.
//
// Loading is strict: an unknown key, a wrong type, a missing required field
// or an impossible value is an INVALID_ARGUMENT whose message starts with
// "<file>:<line>: <field>: " (line 1-based), so an operator can find it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "api/auth.h"
#include "api/request_limits.h"
#include "common/status.h"
#include "gossip/gossip.h"
#include "antientropy/options.h"
#include "gossip/ring_tracker.h"
#include "handoff/options.h"
#include "quorum/options.h"
#include "net/net.h"
#include "net/tls.h"
#include "storage/storage.h"

namespace dynkv::node {

using ReplicationConfig = quorum::ReplicationOptions;  // quorum/options.h
using HandoffConfig = handoff::HandoffOptions;  // handoff/options.h

using LimitsConfig = api::Limits;  // api/request_limits.h

// Location, ring and gossip keys; the defaults are the gossip module's.
struct MembershipConfig {
  std::string cluster_name = gossip::GossipOptions{}.cluster_name;  // gossip from another cluster is refused
  std::string datacenter = "dc1";                                    // location.datacenter
  std::string rack = "rack1";                                        // location.rack
  uint32_t vnodes = gossip::RingTrackerOptions{}.vnodes;             // ring.vnodes
  // gossip.interval_ms: one gossip round per interval.
  uint32_t gossip_interval_ms = static_cast<uint32_t>(gossip::GossipOptions{}.interval_ms);
  // failure_detector.phi_threshold: a peer is down once phi exceeds it. With
  // the default interval a silent peer is down after about 2 s.
  double phi_threshold = gossip::FailureDetectorOptions{}.phi_threshold;
  // gossip.forget_left: a LEFT node is dropped from gossip this long after
  // it left (gossip.h: GossipOptions::forget_left_ms).
  int64_t forget_left_ms = gossip::GossipOptions{}.forget_left_ms;
  // gossip.max_digests: the most nodes a settled node lists in a SYN (gossip.h).
  uint32_t max_digests = static_cast<uint32_t>(gossip::GossipOptions{}.max_digests);
};

// The anti_entropy section; defaults are the module's (docs/OPERATIONS.md
// says why).
struct AntiEntropyConfig {
  // anti_entropy.interval: an exchange with the next replica peer this often; 0: off.
  int64_t interval_ms = antientropy::AntiEntropyOptions{}.interval_ms;
  // anti_entropy.max_bytes_per_sec: objects moved by exchanges.
  uint64_t max_bytes_per_sec = antientropy::AntiEntropyOptions{}.max_bytes_per_sec;
  // anti_entropy.rebuild_interval: the hash tree is rebuilt from a scan this often; 0: only after a crash.
  int64_t rebuild_interval_ms = antientropy::AntiEntropyOptions{}.rebuild_interval_ms;
};

// security.clients: client tokens and their roles (docs/OPERATIONS.md:
// Client tokens and roles). Absent: clients are not authenticated.
struct ClientsSecurityConfig {
  std::string tokens_file;  // as written; relative to the directory dynkvd runs in, as data_dir
  api::TokenTable tokens;   // read from tokens_file when the config is loaded
  bool enabled() const { return !tokens_file.empty(); }
};

// The security section.
struct SecurityConfig {
  // security.tls: the node's certificate and key and the cluster's CA.
  // Set: every port but listen.http speaks TLS, and the peer port admits
  // only nodes presenting a certificate the CA signed. Absent: plaintext.
  // Paths are used as written (relative ones from the working directory,
  // as data_dir).
  std::optional<net::TlsFiles> tls;
  ClientsSecurityConfig clients;
};

struct Config {
  std::string source;  // the file it was read from, for messages

  std::string node_id;  // required
  net::HostPort client_address;  // listen.client, required
  net::HostPort peer_address;    // listen.peer, required
  std::optional<net::HostPort> http_address;  // listen.http: GET /metrics and /health; absent: none
  std::optional<net::HostPort> resp_address;  // listen.resp: the Redis protocol (RESP2); absent: none
  // advertise.client / advertise.peer: the addresses the node gossips, so
  // other nodes and routing clients reach it there (Cassandra's
  // broadcast_address), for a node listening on a wildcard or behind NAT.
  // Absent: the listen address.
  std::optional<net::HostPort> advertise_client;
  std::optional<net::HostPort> advertise_peer;
  const net::HostPort& AdvertisedClient() const { return advertise_client ? *advertise_client : client_address; }
  const net::HostPort& AdvertisedPeer() const { return advertise_peer ? *advertise_peer : peer_address; }
  std::string data_dir;          // required
  std::vector<net::HostPort> seeds;  // empty: a cluster of one
  ReplicationConfig replication;

  storage::Options storage;  // storage.data_dir is set from data_dir
  int64_t tombstone_grace_ms = 7LL * 24 * 3600 * 1000;  // storage.tombstone_grace
  int64_t reap_interval_ms = 60'000;                    // storage.reap_interval

  LimitsConfig limits;
  MembershipConfig membership;
  HandoffConfig handoff;
  AntiEntropyConfig anti_entropy;
  SecurityConfig security;
  uint32_t request_timeout_ms = api::kDefaultRequestTimeoutMs;  // request_timeout: used when a request says 0
  LogLevel log_level = LogLevel::kInfo;
};

// Parses YAML text; `source` names it in messages.
Result<Config> ParseConfig(std::string_view yaml_text, std::string_view source);
// Reads and parses a file; a missing or unreadable file is INVALID_ARGUMENT
// naming the path.
Result<Config> LoadConfigFile(const std::string& path);

// One line naming what an operator checks first (node id, addresses, data
// dir, seeds, replication), e.g. for `dynkvd --check-config`.
std::string Summary(const Config& config);

}  // namespace dynkv::node
