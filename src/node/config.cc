// The node's YAML config loader (config.h, docs/OPERATIONS.md).
//
// Strict by design: every key must be known, every value is checked, and
// every error names the line and the field, so an operator fixes a config
// in one try instead of finding out at the first request. How YAML is read
// (strict maps, units, the messages) is yaml_reader.h; this file is a table
// from each documented key to its field of Config, then the rules that tie
// fields together.
#include "node/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "node/yaml_reader.h"

namespace dynkv::node {
namespace {

using yaml::Entry;

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxNodeIdChars = 64;
constexpr size_t kMaxClusterNameChars = 64;
// Room in a frame for everything in a Put besides its key and value.
constexpr uint64_t kFrameOverheadBytes = 64 << 10;
// LevelDB silently clips write_buffer_size to this range; refusing values
// outside it is more honest than running with a different one.
constexpr uint64_t kMinWriteBufferBytes = 64 << 10;
constexpr uint64_t kMaxWriteBufferBytes = 1 << 30;
// Real configs are a few KiB; the cap stops a wrong path (a device, a huge
// log) from being read into memory.
constexpr size_t kMaxConfigFileBytes = 1 << 20;

constexpr std::string_view kNodeIdSyntax = "1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'";
constexpr std::string_view kDataDir = "the directory that holds this node's data";
constexpr std::string_view kAddressSyntax = "HOST:PORT with a port between 1 and 65535, e.g. 127.0.0.1:7101";

// ---- Readers of one key -----------------------------------------------------

// Reads one entry into its place in Config.
using Read = std::function<Status(const Entry&, Config*)>;

// The field that a chain of member pointers leads to from `object`:
// FieldOf(config, &Config::storage, &storage::Options::sync) is config.storage.sync.
template <typename Object>
Object& FieldOf(Object& object) {
  return object;
}
template <typename Object, typename Member, typename... Rest>
auto& FieldOf(Object& object, Member member, Rest... rest) {
  return FieldOf(object.*member, rest...);
}

// A Read that stores what `read` returns in the field `members` lead to.
template <typename ValueReader, typename... Members>
Read Store(ValueReader read, Members... members) {
  return [read, members...](const Entry& entry, Config* config) -> Status {
    auto value = read(entry);
    if (!value.ok()) return value.status();
    auto& field = FieldOf(*config, members...);
    // The table's bounds keep every value within its field's type.
    field = static_cast<std::remove_reference_t<decltype(field)>>(std::move(*value));
    return Status::Ok();
  };
}

template <typename... Members>
Read Count(uint64_t min, uint64_t max, Members... members) {
  return Store([=](const Entry& entry) { return yaml::ReadCount(entry, min, max); }, members...);
}

template <typename... Members>
Read Size(uint64_t min, uint64_t max, Members... members) {
  return Store([=](const Entry& entry) { return yaml::ReadSize(entry, min, max); }, members...);
}

template <typename... Members>
Read Duration(uint64_t min, uint64_t max, Members... members) {
  return Store([=](const Entry& entry) { return yaml::ReadDurationMs(entry, min, max); }, members...);
}

template <typename... Members>
Read Number(double min, double max, Members... members) {
  return Store([=](const Entry& entry) { return yaml::ReadNumber(entry, min, max); }, members...);
}

template <typename... Members>
Read Bool(Members... members) {
  return Store(&yaml::ReadBool, members...);
}

template <typename... Members>
Read Text(std::string_view expected, Members... members) {
  return Store([=](const Entry& entry) { return yaml::ReadText(entry, expected); }, members...);
}

bool IsNodeIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

Status ReadNodeId(const Entry& entry, Config* config) {
  Result<std::string> id = yaml::ReadText(entry, kNodeIdSyntax);
  if (!id.ok()) return id.status();
  if (id->empty() || id->size() > kMaxNodeIdChars || !std::all_of(id->begin(), id->end(), IsNodeIdChar)) {
    return yaml::Invalid(
        entry.field, yaml::Quote(*id) + " is not a valid node id; expected " + std::string(kNodeIdSyntax));
  }
  config->node_id = std::move(*id);
  return Status::Ok();
}

Status ReadDataDir(const Entry& entry, Config* config) {
  Result<std::string> dir = yaml::ReadText(entry, kDataDir);
  if (!dir.ok()) return dir.status();
  if (dir->empty()) return yaml::Invalid(entry.field, "is empty; expected " + std::string(kDataDir));
  if (dir->find('\0') != std::string::npos) {
    return yaml::Invalid(entry.field, "contains a NUL character; expected " + std::string(kDataDir));
  }
  config->data_dir = std::move(*dir);
  config->storage.data_dir = config->data_dir;
  return Status::Ok();
}

// One file of security.tls; setting any of them turns TLS on (CheckTls
// then wants all three).
Read TlsFile(std::string net::TlsFiles::*member) {
  return [member](const Entry& entry, Config* config) -> Status {
    Result<std::string> path = yaml::ReadText(entry, "a file path");
    if (!path.ok()) return path.status();
    if (path->empty()) return yaml::Invalid(entry.field, "is empty; expected a file path");
    if (!config->security.tls) config->security.tls.emplace();
    (*config->security.tls).*member = std::move(*path);
    return Status::Ok();
  };
}

Result<net::HostPort> ReadAddress(const Entry& entry) {
  Result<std::string> text = yaml::ReadText(entry, kAddressSyntax);
  if (!text.ok()) return text.status();
  Result<net::HostPort> address = net::ParseHostPort(*text);
  // The net module's message says what is wrong, e.g. an IPv6 host without brackets.
  if (!address.ok()) {
    return yaml::Invalid(entry.field,
                         address.status().message() + "; expected " + std::string(kAddressSyntax));
  }
  return address;
}

bool SameAddress(const net::HostPort& a, const net::HostPort& b) {
  return a.host == b.host && a.port == b.port;
}

Status ReadSeeds(const Entry& entry, Config* config) {
  Result<std::vector<Entry>> items =
      yaml::ReadList(entry, "a list of peer addresses (" + std::string(kAddressSyntax) + ")");
  if (!items.ok()) return items.status();
  for (const Entry& item : *items) {
    Result<net::HostPort> seed = ReadAddress(item);
    if (!seed.ok()) return seed.status();
    for (size_t i = 0; i < config->seeds.size(); ++i) {
      if (!SameAddress(config->seeds[i], *seed)) continue;
      const yaml::Field& first = (*items)[i].field;
      return yaml::Invalid(item.field, yaml::Quote(item.value.Scalar()) + " is already listed as " +
                                           first.path + " (line " + std::to_string(first.line) +
                                           "); expected each seed once");
    }
    config->seeds.push_back(std::move(*seed));
  }
  return Status::Ok();
}

Status ReadConflicts(const Entry& entry, Config* config) {
  Result<std::string> mode = yaml::ReadText(entry, "siblings or lww");
  if (!mode.ok()) return mode.status();
  if (*mode != "siblings" && *mode != "lww") {
    return yaml::Invalid(
        entry.field,
        "expected siblings (keep concurrent writes) or lww (last write wins), got " + yaml::Quote(*mode));
  }
  config->replication.last_write_wins = *mode == "lww";
  return Status::Ok();
}

// replication.datacenters: { NAME: COUNT, ... }.
Status ReadDatacenters(const Entry& entry, Config* config) {
  Result<std::map<std::string, Entry, std::less<>>> map =
      yaml::ReadNamedMap(entry, "a map of datacenter names to replica counts, e.g. { dc1: 3, dc2: 2 }");
  if (!map.ok()) return map.status();
  for (const auto& [name, value] : *map) {
    Result<uint64_t> count = yaml::ReadCount(value, 1, 64);
    if (!count.ok()) return count.status();
    config->replication.datacenters[name] = static_cast<uint32_t>(*count);
  }
  return Status::Ok();
}

Status ReadLogLevel(const Entry& entry, Config* config) {
  constexpr std::string_view kExpected = "debug, info, warn or error";
  Result<std::string> name = yaml::ReadText(entry, kExpected);
  if (!name.ok()) return name.status();
  if (!ParseLogLevel(*name, &config->log_level)) {
    return yaml::Invalid(entry.field, "expected " + std::string(kExpected) + ", got " + yaml::Quote(*name));
  }
  return Status::Ok();
}

Status ReadClusterName(const Entry& entry, Config* config) {
  Result<std::string> name = yaml::ReadText(entry, "a cluster name");
  if (!name.ok()) return name.status();
  if (name->empty() || name->size() > kMaxClusterNameChars) {
    return yaml::Invalid(entry.field, "expected 1 to 64 characters");
  }
  config->membership.cluster_name = std::move(*name);
  return Status::Ok();
}

// security.clients.tokens_file: the tokens are read now, so that a bad
// file stops the start (and --check-config) with its file and line.
Status ReadTokensFile(const Entry& entry, Config* config) {
  Result<std::string> path = yaml::ReadText(entry, "the path of the client tokens file");
  if (!path.ok()) return path.status();
  if (path->empty() || path->find('\0') != std::string::npos) {
    return yaml::Invalid(entry.field, "expected the path of a file of 'TOKEN ROLE' lines");
  }
  Result<api::TokenTable> tokens = api::TokenTable::Load(*path);
  // The message names the file and line and never a token.
  if (!tokens.ok()) return yaml::Invalid(entry.field, tokens.status().message());
  config->security.clients.tokens_file = std::move(*path);
  config->security.clients.tokens = std::move(*tokens);
  return Status::Ok();
}

// ---- The table ----------------------------------------------------------------

struct Key {
  std::string_view path;      // dotted, as in docs/OPERATIONS.md
  Read read;                  // empty for a map that only has to be there
  std::string required = {};  // when set, the key must be; completes "expected ..."
};

// Every key, in the order they are read and listed in "expected one of"
// messages. A new key is one line here and one in docs/OPERATIONS.md.
const std::vector<Key>& Keys() {
  using C = Config;
  using Options = storage::Options;
  using Connections = net::ConnectionLimits;
  static const std::vector<Key> keys = {
      {"node_id", &ReadNodeId, "the node's name (" + std::string(kNodeIdSyntax) + ")"},
      {"listen", nullptr, "a map with client and peer addresses"},
      {"listen.client", Store(&ReadAddress, &C::client_address),
       "the address clients connect to, as " + std::string(kAddressSyntax)},
      {"listen.peer", Store(&ReadAddress, &C::peer_address),
       "the address other nodes connect to, as " + std::string(kAddressSyntax)},
      {"listen.http", Store(&ReadAddress, &C::http_address)},
      {"listen.resp", Store(&ReadAddress, &C::resp_address)},
      {"data_dir", &ReadDataDir, std::string(kDataDir)},
      {"seeds", &ReadSeeds},
      {"replication.n", Count(1, kMaxU32, &C::replication, &ReplicationConfig::n)},
      // 0 passes here so that CheckQuorum can word it in terms of n.
      {"replication.r", Count(0, kMaxU32, &C::replication, &ReplicationConfig::r)},
      {"replication.w", Count(0, kMaxU32, &C::replication, &ReplicationConfig::w)},
      {"replication.sloppy_quorum", Bool(&C::replication, &ReplicationConfig::sloppy_quorum)},
      {"replication.hinted_writes_count", Bool(&C::replication, &ReplicationConfig::hinted_writes_count)},
      {"replication.conflicts", &ReadConflicts},
      {"replication.failover_min", Duration(1, 60'000, &C::replication, &ReplicationConfig::failover_min_ms)},
      {"replication.failover_max", Duration(1, 60'000, &C::replication, &ReplicationConfig::failover_max_ms)},
      {"replication.max_pending_per_peer",
       Count(1, kMaxU32, &C::replication, &ReplicationConfig::max_pending_per_peer)},
      {"replication.datacenters", &ReadDatacenters},
      {"storage.cache_bytes", Size(0, kMaxU64, &C::storage, &Options::cache_bytes)},
      {"storage.compress_min_bytes", Size(0, kMaxU32, &C::storage, &Options::compress_min_bytes)},
      {"storage.compress_level", Count(1, 19, &C::storage, &Options::compress_level)},
      {"storage.sync", Bool(&C::storage, &Options::sync)},
      {"storage.write_buffer_bytes",
       Size(kMinWriteBufferBytes, kMaxWriteBufferBytes, &C::storage, &Options::write_buffer_bytes)},
      {"storage.block_cache_bytes", Size(0, kMaxU64, &C::storage, &Options::block_cache_bytes)},
      {"storage.block_bytes", Size(1024, 4u << 20, &C::storage, &Options::block_bytes)},
      {"storage.tombstone_grace", Duration(0, kMaxI64, &C::tombstone_grace_ms)},
      {"storage.reap_interval", Duration(1, kMaxI64, &C::reap_interval_ms)},
      // A frame's length header has 4 bytes.
      {"limits.max_frame_bytes", Size(1, kMaxU32, &C::limits, &LimitsConfig::max_frame_bytes)},
      {"limits.max_key_bytes", Size(1, kMaxU32, &C::limits, &LimitsConfig::max_key_bytes)},
      {"limits.max_value_bytes", Size(1, kMaxU32, &C::limits, &LimitsConfig::max_value_bytes)},
      {"limits.max_object_bytes", Size(1, kMaxU64, &C::limits, &LimitsConfig::max_object_bytes)},
      {"limits.max_siblings", Count(1, kMaxU32, &C::limits, &LimitsConfig::max_siblings)},
      {"limits.max_connections", Count(1, kMaxU32, &C::limits, &LimitsConfig::max_connections)},
      {"limits.max_pending_requests", Count(1, kMaxU32, &C::limits, &LimitsConfig::max_pending_requests)},
      {"limits.max_output_bytes",
       Size(1, kMaxU64, &C::limits, &LimitsConfig::connections, &Connections::max_output_bytes)},
      {"limits.max_output_hard_bytes",
       Size(1, kMaxU64, &C::limits, &LimitsConfig::connections, &Connections::max_output_hard_bytes)},
      {"limits.output_timeout",
       Duration(0, kMaxI64, &C::limits, &LimitsConfig::connections, &Connections::output_timeout_ms)},
      {"limits.frame_timeout",
       Duration(0, kMaxI64, &C::limits, &LimitsConfig::connections, &Connections::frame_timeout_ms)},
      {"limits.idle_timeout",
       Duration(0, kMaxI64, &C::limits, &LimitsConfig::connections, &Connections::idle_timeout_ms)},
      {"request_timeout", Duration(1, kMaxU32, &C::request_timeout_ms)},
      {"log_level", &ReadLogLevel},
      {"cluster_name", &ReadClusterName},
      {"location.datacenter", Text("a name", &C::membership, &MembershipConfig::datacenter)},
      {"location.rack", Text("a name", &C::membership, &MembershipConfig::rack)},
      {"ring.vnodes", Count(1, 4096, &C::membership, &MembershipConfig::vnodes)},
      {"gossip.interval_ms", Count(10, 60'000, &C::membership, &MembershipConfig::gossip_interval_ms)},
      {"gossip.forget_left", Duration(1000, kMaxI64, &C::membership, &MembershipConfig::forget_left_ms)},
      {"gossip.max_digests", Count(8, 1'000'000, &C::membership, &MembershipConfig::max_digests)},
      {"failure_detector.phi_threshold", Number(1, 100, &C::membership, &MembershipConfig::phi_threshold)},
      {"handoff.max_bytes_per_sec", Size(1024, kMaxU64, &C::handoff, &HandoffConfig::max_bytes_per_sec)},
      {"handoff.hint_window", Duration(1000, kMaxI64, &C::handoff, &HandoffConfig::hint_window_ms)},
      {"handoff.stream_max_bytes_per_sec",
       Size(1024, kMaxU64, &C::handoff, &HandoffConfig::stream_max_bytes_per_sec)},
      {"handoff.transfer_limit", Count(1, 64, &C::handoff, &HandoffConfig::transfer_limit)},
      {"anti_entropy.interval", Duration(0, kMaxI64, &C::anti_entropy, &AntiEntropyConfig::interval_ms)},
      {"anti_entropy.max_bytes_per_sec",
       Size(1024, kMaxU64, &C::anti_entropy, &AntiEntropyConfig::max_bytes_per_sec)},
      {"anti_entropy.rebuild_interval",
       Duration(0, kMaxI64, &C::anti_entropy, &AntiEntropyConfig::rebuild_interval_ms)},
      {"advertise.client", Store(&ReadAddress, &C::advertise_client)},
      {"advertise.peer", Store(&ReadAddress, &C::advertise_peer)},
      {"security.tls.cert_file", TlsFile(&net::TlsFiles::cert_file)},
      {"security.tls.key_file", TlsFile(&net::TlsFiles::key_file)},
      {"security.tls.ca_file", TlsFile(&net::TlsFiles::ca_file)},
      {"security.clients.tokens_file", &ReadTokensFile},
  };
  return keys;
}

// ---- Rules between fields -----------------------------------------------------

Status CheckListen(const yaml::Document& document, const Config& config) {
  if (SameAddress(config.client_address, config.peer_address)) {
    return yaml::Invalid(document.Blame({"listen.peer"}),
                         "is the same address as listen.client; expected a different port for peers");
  }
  // The optional ports, each against every port before it.
  std::vector<std::pair<const char*, const net::HostPort*>> ports = {{"listen.client", &config.client_address},
                                                                      {"listen.peer", &config.peer_address}};
  for (const auto& [key, address] : {std::pair{"listen.http", &config.http_address},
                                     std::pair{"listen.resp", &config.resp_address}}) {
    if (!address->has_value()) continue;
    for (const auto& [other, taken] : ports) {
      if (SameAddress(**address, *taken)) {
        return yaml::Invalid(document.Blame({key}),
                             "is the same address as " + std::string(other) + "; expected a port of its own");
      }
    }
    ports.push_back({key, &**address});
  }
  for (const auto& [key, address] : {std::pair{"advertise.client", &config.advertise_client},
                                     std::pair{"advertise.peer", &config.advertise_peer}}) {
    if (address->has_value() && ((*address)->host == "0.0.0.0" || (*address)->host == "::")) {
      return yaml::Invalid(document.Blame({key}),
                           "is a wildcard; expected the address other nodes and clients reach this node at");
    }
  }
  return Status::Ok();
}

Status CheckTls(const yaml::Document& document, const Config& config) {
  if (!config.security.tls) return Status::Ok();
  for (const auto& [key, path] : {std::pair{"security.tls.cert_file", &config.security.tls->cert_file},
                                  std::pair{"security.tls.key_file", &config.security.tls->key_file},
                                  std::pair{"security.tls.ca_file", &config.security.tls->ca_file}}) {
    if (path->empty()) {
      return yaml::Invalid(document.Blame({key}), "is missing; security.tls needs cert_file, key_file and ca_file");
    }
  }
  return Status::Ok();
}

// r or w against n (with datacenters: their replicas' sum). An explicit
// value is blamed on its own line; a default that no longer fits (n: 1 with
// the default r of 2) on n's.
Status CheckQuorum(const yaml::Document& document, std::string_view key, uint32_t value,
                   const ReplicationConfig& replication) {
  const uint32_t n = replication.total();
  if (value >= 1 && value <= n) return Status::Ok();
  const bool by_datacenter = !replication.datacenters.empty();
  const std::string total = by_datacenter ? "the replicas of replication.datacenters" : "replication.n";
  const std::string name(key);
  const std::string path = "replication." + name;
  const std::string range = name + " must be between 1 and " + (by_datacenter ? "their sum" : "n");
  const Entry* entry = document.Lookup(path);
  if (entry == nullptr) {
    return yaml::Invalid({path, document.Blame({by_datacenter ? "replication.datacenters" : "replication.n"}).line},
                         "the default " + name + " (" + std::to_string(value) + ") exceeds " + total + " (" +
                             std::to_string(n) + "); " + range + ", so set " + name + " too");
  }
  if (value == 0)
    return yaml::Invalid(entry->field, "0 is not allowed; " + range + " (" + std::to_string(n) + ")");
  return yaml::Invalid(entry->field,
                       std::to_string(value) + " exceeds " + total + " (" + std::to_string(n) + "); " + range);
}

Status CheckLimits(const yaml::Document& document, const LimitsConfig& limits) {
  using yaml::FormatSize;
  if (limits.max_object_bytes < limits.max_value_bytes) {
    return yaml::Invalid(
        document.Blame({"limits.max_object_bytes", "limits.max_value_bytes"}),
        "max_object_bytes (" + FormatSize(limits.max_object_bytes) + ") is smaller than max_value_bytes (" +
            FormatSize(limits.max_value_bytes) +
            "); expected max_object_bytes >= max_value_bytes, since an object holds whole values");
  }
  if (limits.connections.max_output_hard_bytes < limits.connections.max_output_bytes) {
    return yaml::Invalid(document.Blame({"limits.max_output_hard_bytes", "limits.max_output_bytes"}),
                         "max_output_hard_bytes (" + FormatSize(limits.connections.max_output_hard_bytes) +
                             ") is smaller than max_output_bytes (" +
                             FormatSize(limits.connections.max_output_bytes) +
                             "); expected max_output_hard_bytes >= max_output_bytes, since reading stops at "
                             "max_output_bytes and the connection closes at max_output_hard_bytes");
  }
  // Each term is at most 4GiB, so the sum cannot overflow.
  const uint64_t largest_put = limits.max_key_bytes + limits.max_value_bytes + kFrameOverheadBytes;
  if (limits.max_frame_bytes < largest_put) {
    return yaml::Invalid(
        document.Blame({"limits.max_frame_bytes", "limits.max_value_bytes", "limits.max_key_bytes"}),
        "max_frame_bytes (" + FormatSize(limits.max_frame_bytes) +
            ") is smaller than max_key_bytes + max_value_bytes + 64KiB (" + FormatSize(largest_put) +
            "); expected a frame that holds a Put of the largest key and value");
  }
  return Status::Ok();
}

Status CheckFailover(const yaml::Document& document, const ReplicationConfig& replication) {
  if (replication.failover_min_ms <= replication.failover_max_ms) return Status::Ok();
  return yaml::Invalid(document.Blame({"replication.failover_min", "replication.failover_max"}),
                       "failover_min (" + std::to_string(replication.failover_min_ms) +
                           "ms) is above failover_max (" + std::to_string(replication.failover_max_ms) +
                           "ms); expected failover_min <= failover_max");
}

// A security.clients section must name its tokens file: one left empty
// would otherwise run the node open to every client.
Status CheckClients(const yaml::Document& document, const Config& config) {
  if (config.security.clients.enabled() || document.Lookup("security.clients") == nullptr) return Status::Ok();
  return yaml::Invalid(document.Blame({"security.clients.tokens_file"}),
                       "missing required field; expected the file of client tokens ('TOKEN ROLE' lines), "
                       "or no security.clients section to let every client in");
}

// Reads every key of the table, then checks the rules between them.
Status ReadConfig(yaml::Document& document, Config* config) {
  for (const Key& key : Keys()) {
    Result<const Entry*> entry =
        key.required.empty() ? document.Find(key.path) : document.Require(key.path, key.required);
    if (!entry.ok()) return entry.status();
    if (*entry != nullptr && key.read) DYNKV_RETURN_IF_ERROR(key.read(**entry, config));
  }
  DYNKV_RETURN_IF_ERROR(CheckListen(document, *config));
  DYNKV_RETURN_IF_ERROR(CheckTls(document, *config));
  DYNKV_RETURN_IF_ERROR(CheckQuorum(document, "r", config->replication.r, config->replication));
  DYNKV_RETURN_IF_ERROR(CheckQuorum(document, "w", config->replication.w, config->replication));
  DYNKV_RETURN_IF_ERROR(CheckFailover(document, config->replication));
  DYNKV_RETURN_IF_ERROR(CheckClients(document, *config));
  return CheckLimits(document, config->limits);
}

// ---- Files --------------------------------------------------------------------

Status CannotRead(const std::string& path, std::string_view why) {
  return Status::InvalidArgument("cannot read config file " + path + ": " + std::string(why));
}

Result<std::string> ReadConfigFile(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return CannotRead(path, std::generic_category().message(errno));
  std::string text;
  char buffer[8192];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxConfigFileBytes) {
      return CannotRead(path, "larger than 1MiB; expected a small YAML file");
    }
  }
  // A directory opens fine on Linux; reading it fails with EISDIR.
  if (std::ferror(file.get())) return CannotRead(path, std::generic_category().message(errno));
  return text;
}

}  // namespace

Result<Config> ParseConfig(std::string_view yaml_text, std::string_view source) {
  std::vector<std::string_view> paths;
  for (const Key& key : Keys()) paths.push_back(key.path);
  Config config;
  DYNKV_RETURN_IF_ERROR(yaml::ReadDocument(yaml_text, source, paths, [&config](yaml::Document& document) {
    return ReadConfig(document, &config);
  }));
  config.source = std::string(source);
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  Result<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

std::string Summary(const Config& config) {
  std::string line = "node " + config.node_id + ", client " + config.client_address.ToString() + ", peer " +
                     config.peer_address.ToString();
  if (config.http_address) line += ", http " + config.http_address->ToString();
  if (config.resp_address) line += ", resp " + config.resp_address->ToString();
  if (config.security.tls) line += ", tls";
  line += ", data_dir " + config.data_dir + ", ";
  const size_t seeds = config.seeds.size();
  if (seeds == 0) {
    line += "no seeds (a cluster of one)";
  } else {
    line += std::to_string(seeds) + (seeds == 1 ? " seed" : " seeds");
  }
  if (config.security.clients.enabled()) {
    line += ", client tokens " + config.security.clients.tokens_file + " (" +
            std::to_string(config.security.clients.tokens.size()) + ")";
  }
  const ReplicationConfig& replication = config.replication;
  line += ", n=";
  if (replication.datacenters.empty()) {
    line += std::to_string(replication.n);
  } else {
    std::string per_dc;
    for (const auto& [name, count] : replication.datacenters) {
      per_dc += (per_dc.empty() ? "" : " ") + name + ":" + std::to_string(count);
    }
    line += std::to_string(replication.total()) + " (" + per_dc + ")";
  }
  return line + " r=" + std::to_string(replication.r) + " w=" + std::to_string(replication.w);
}

}  // namespace dynkv::node
