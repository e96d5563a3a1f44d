#include "node/config.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "node/services.h"

namespace dynkv::node {
namespace {

// Three lines that make a valid config; tests append settings from line 4.
constexpr std::string_view kMinimal =
    "node_id: n1\n"
    "listen: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\n"
    "data_dir: /var/lib/dynkv/n1\n";

std::string With(std::string_view extra) { return std::string(kMinimal) + std::string(extra); }

Config Parsed(std::string_view yaml) {
  Result<Config> config = ParseConfig(yaml, "test.yaml");
  INFO(yaml);
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  return *config;
}

// The message of a config that must be rejected as INVALID_ARGUMENT.
std::string Rejected(std::string_view yaml) {
  Result<Config> config = ParseConfig(yaml, "test.yaml");
  INFO(yaml);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == Code::kInvalidArgument);
  return config.status().message();
}

// Every message names the file, the line and the field, then says what is
// wrong and what would be right.
#define CHECK_REJECTED(yaml, prefix, detail)                             \
  do {                                                                   \
    const std::string message_ = Rejected(yaml);                         \
    CHECK_MESSAGE(message_.starts_with(prefix), message_);               \
    CHECK_MESSAGE(message_.find(detail) != std::string::npos, message_); \
  } while (0)

uint64_t CacheBytes(std::string_view size) {
  return Parsed(With("storage: {cache_bytes: " + std::string(size) + "}\n")).storage.cache_bytes;
}

int64_t GraceMs(std::string_view duration) {
  return Parsed(With("storage: {tombstone_grace: " + std::string(duration) + "}\n")).tombstone_grace_ms;
}

TEST_CASE("a full config sets every field") {
  const Config c = Parsed(R"(# node one
node_id: node-1.a_B
listen:
  client: 10.0.0.1:7101
  peer: "[::1]:7201"
data_dir: ./data/node1
seeds: [10.0.0.2:7201, 10.0.0.3:7201]
replication: {n: 5, r: 3, w: 4}
storage:
  cache_bytes: 128MiB
  compress_min_bytes: 1KiB
  compress_level: 19
  sync: true
  write_buffer_bytes: 4MiB
  block_cache_bytes: 2GB
  block_bytes: 16KiB
  tombstone_grace: 2d
  reap_interval: 90s
limits:
  max_frame_bytes: 64MiB
  max_key_bytes: 1KiB
  max_value_bytes: 8MiB
  max_object_bytes: 32MiB
  max_siblings: 10
  max_connections: 100
  max_pending_requests: 500
request_timeout: 1500ms
log_level: debug
)");
  CHECK(c.source == "test.yaml");
  CHECK(c.node_id == "node-1.a_B");
  CHECK(c.client_address.host == "10.0.0.1");
  CHECK(c.client_address.port == 7101);
  CHECK(c.peer_address.host == "::1");
  CHECK(c.peer_address.port == 7201);
  CHECK(c.data_dir == "./data/node1");
  CHECK(c.storage.data_dir == "./data/node1");
  REQUIRE(c.seeds.size() == 2);
  CHECK(c.seeds[0].host == "10.0.0.2");
  CHECK(c.seeds[1].host == "10.0.0.3");
  CHECK(c.seeds[1].port == 7201);
  CHECK(c.replication.n == 5);
  CHECK(c.replication.r == 3);
  CHECK(c.replication.w == 4);
  CHECK(c.storage.cache_bytes == 128ull << 20);
  CHECK(c.storage.compress_min_bytes == 1024);
  CHECK(c.storage.compress_level == 19);
  CHECK(c.storage.sync);
  CHECK(c.storage.write_buffer_bytes == 4ull << 20);
  CHECK(c.storage.block_cache_bytes == 2'000'000'000ull);
  CHECK(c.storage.block_bytes == 16u << 10);
  CHECK(c.tombstone_grace_ms == 2LL * 86'400'000);
  CHECK(c.reap_interval_ms == 90'000);
  CHECK(c.limits.max_frame_bytes == 64ull << 20);
  CHECK(c.limits.max_key_bytes == 1024);
  CHECK(c.limits.max_value_bytes == 8ull << 20);
  CHECK(c.limits.max_object_bytes == 32ull << 20);
  CHECK(c.limits.max_siblings == 10);
  CHECK(c.limits.max_connections == 100);
  CHECK(c.limits.max_pending_requests == 500);
  CHECK(c.request_timeout_ms == 1500);
  CHECK(c.log_level == LogLevel::kDebug);
}

TEST_CASE("a minimal config gets the documented defaults") {
  const Config c = Parsed(kMinimal);
  CHECK(c.node_id == "n1");
  CHECK(c.client_address.port == 7101);
  CHECK(c.peer_address.port == 7201);
  CHECK(c.data_dir == "/var/lib/dynkv/n1");
  CHECK(c.storage.data_dir == c.data_dir);
  CHECK(c.seeds.empty());
  CHECK(c.replication.n == 3);
  CHECK(c.replication.r == 2);
  CHECK(c.replication.w == 2);
  CHECK(c.storage.cache_bytes == 64ull << 20);
  CHECK(c.storage.compress_min_bytes == 512);
  CHECK(c.storage.compress_level == 3);
  CHECK_FALSE(c.storage.sync);
  CHECK(c.storage.write_buffer_bytes == 16ull << 20);
  CHECK(c.storage.block_cache_bytes == 8ull << 20);
  CHECK(c.storage.block_bytes == 4096);
  CHECK(c.tombstone_grace_ms == 7LL * 86'400'000);
  CHECK(c.reap_interval_ms == 60'000);
  CHECK(c.limits.max_frame_bytes == 32ull << 20);
  CHECK(c.limits.max_key_bytes == 4096);
  CHECK(c.limits.max_value_bytes == 4ull << 20);
  CHECK(c.limits.max_object_bytes == 16ull << 20);
  CHECK(c.limits.max_siblings == 100);
  CHECK(c.limits.max_connections == 4096);
  CHECK(c.limits.max_pending_requests == 20000);
  CHECK(c.request_timeout_ms == 5000);
  CHECK(c.log_level == LogLevel::kInfo);
}

TEST_CASE("absent, null and empty seeds all mean a cluster of one") {
  CHECK(Parsed(kMinimal).seeds.empty());
  CHECK(Parsed(With("seeds: []\n")).seeds.empty());
  CHECK(Parsed(With("seeds:\n")).seeds.empty());
}

TEST_CASE("sections whose keys are all commented out keep their defaults") {
  const Config c = Parsed(With("storage:\n  # cache_bytes: 1GiB\nlimits:\nreplication:\n"));
  CHECK(c.storage.cache_bytes == 64ull << 20);
  CHECK(c.limits.max_siblings == 100);
  CHECK(c.replication.n == 3);
}

TEST_CASE("YAML syntax errors report the parser's line") {
  CHECK_REJECTED(With("storage:\n  sync: true\n bad: 1\n"), "test.yaml:6: yaml: ", "expected");
  CHECK_REJECTED(With("seeds: [127.0.0.1:7202\n"), "test.yaml:5: yaml: ", "expected");
  CHECK_REJECTED(With("log_level: *nowhere\n"), "test.yaml:4: yaml: ", "expected");
}

TEST_CASE("nesting too deep for the parser is an error, not a crash") {
  CHECK_REJECTED(With("seeds: " + std::string(100'000, '[') + "\n"), "test.yaml:", "yaml: ");
}

TEST_CASE("a document that is not one map of settings is rejected") {
  CHECK_REJECTED("", "test.yaml:1: document: ", "expected a map of settings (key: value lines), got nothing");
  CHECK_REJECTED("# nothing yet\n", "test.yaml:1: document: ", "expected a map");
  CHECK_REJECTED("- node_id\n- n1\n", "test.yaml:1: document: ", "got a list");
  CHECK_REJECTED("just words\n", "test.yaml:1: document: ", "got 'just words'");
  CHECK_REJECTED(With("---\nnode_id: n2\n"), "test.yaml:4: document: ", "expected exactly one document");
  // yaml-cpp 0.7's LoadAll loops forever, allocating, on a lone "," (jbeder/yaml-cpp#1040).
  CHECK_REJECTED(",", "test.yaml:1: document: ", "expected a map");
  CHECK_REJECTED(With(",\n"), "test.yaml:", "expected");
}

TEST_CASE("unknown keys are rejected at every level, with a suggestion when one is close") {
  CHECK_REJECTED("node_id: n1\nlisten: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\ndata_dri: x\n",
                 "test.yaml:3: data_dri: unknown key; ", "did you mean 'data_dir'?");
  CHECK_REJECTED(With("log_levl: info\n"), "test.yaml:4: log_levl: ", "did you mean 'log_level'?");
  CHECK_REJECTED(With("storage:\n  cache_byte: 1\n"),
                 "test.yaml:5: storage.cache_byte: ", "did you mean 'cache_bytes'?");
  CHECK_REJECTED(With("replication:\n  n: 3\n  q: 2\n"), "test.yaml:6: replication.q: ", "did you mean");
  CHECK_REJECTED(With("limits: {max_sibling: 5}\n"),
                 "test.yaml:4: limits.max_sibling: ", "did you mean 'max_siblings'?");
  CHECK_REJECTED(With("\n\ncolour: red\n"), "test.yaml:6: colour: unknown key; ",
                 "expected one of node_id, listen, data_dir, seeds, replication");
  CHECK_REJECTED("node_id: n1\nlisten: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201, gossip: 127.0.0.1:1}\n",
                 "test.yaml:2: listen.gossip: unknown key; ", "expected one of client, peer");
}

TEST_CASE("a key given twice is rejected at its second occurrence") {
  CHECK_REJECTED(With("log_level: info\nlog_level: debug\n"), "test.yaml:5: log_level: ", "also on line 4");
}

TEST_CASE("missing required fields name the enclosing map's line") {
  CHECK_REJECTED("listen: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\ndata_dir: /d\n",
                 "test.yaml:1: node_id: missing required field; ", "expected");
  CHECK_REJECTED("node_id: n1\ndata_dir: /d\n", "test.yaml:1: listen: missing required field; ", "expected");
  CHECK_REJECTED("node_id: n1\nlisten: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\n",
                 "test.yaml:1: data_dir: missing required field; ", "expected");
  CHECK_REJECTED("node_id: n1\ndata_dir: /d\nlisten:\n  peer: 127.0.0.1:7201\n",
                 "test.yaml:3: listen.client: missing required field; ", "expected");
  CHECK_REJECTED("node_id: n1\ndata_dir: /d\n\nlisten: {client: 127.0.0.1:7101}\n",
                 "test.yaml:4: listen.peer: missing required field; ", "expected");
  CHECK_REJECTED("node_id: n1\ndata_dir: /d\nlisten:\n",
                 "test.yaml:3: listen.client: missing required field; ", "expected");
}

TEST_CASE("values of the wrong type are rejected with what was expected") {
  CHECK_REJECTED("node_id: [a, b]\nlisten: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\ndata_dir: /d\n",
                 "test.yaml:1: node_id: ", "got a list");
  CHECK_REJECTED("node_id: n1\nlisten: 127.0.0.1:7101\ndata_dir: /d\n",
                 "test.yaml:2: listen: ", "expected a map of client, peer");
  CHECK_REJECTED(With("replication: 3\n"),
                 "test.yaml:4: replication: ", "expected a map of n, r, w, sloppy_quorum, hinted_writes_count, conflicts, failover_min, failover_max, max_pending_per_peer, datacenters, got '3'");
  CHECK_REJECTED(With("storage: [1, 2]\n"), "test.yaml:4: storage: ", "got a list");
  CHECK_REJECTED(With("seeds: 127.0.0.1:7202\n"), "test.yaml:4: seeds: ", "expected a list");
  CHECK_REJECTED(With("seeds: [[127.0.0.1:7202]]\n"), "test.yaml:4: seeds[0]: ", "got a list");
  CHECK_REJECTED(With("replication: {n: \"3\"}\n"),
                 "test.yaml:4: replication.n: ", "got the quoted string '3'");
  CHECK_REJECTED(With("replication:\n  n: -1\n"), "test.yaml:5: replication.n: ",
                 "expected a whole number between 1 and 4294967295, got '-1'");
  CHECK_REJECTED(With("replication:\n  n: 1.5\n"), "test.yaml:5: replication.n: ", "got '1.5'");
  CHECK_REJECTED(With("replication:\n  n: three\n"), "test.yaml:5: replication.n: ", "got 'three'");
  CHECK_REJECTED(With("replication:\n  n: 4294967296\n"), "test.yaml:5: replication.n: ", "4294967295");
  CHECK_REJECTED(With("replication:\n  n:\n"), "test.yaml:5: replication.n: ", "got nothing");
  CHECK_REJECTED(With("storage: {sync: yes}\n"), "test.yaml:4: storage.sync: ", "expected true or false");
  CHECK_REJECTED(With("storage: {sync: \"true\"}\n"),
                 "test.yaml:4: storage.sync: ", "expected true or false");
  CHECK_REJECTED(With("storage: {cache_bytes: {a: 1}}\n"), "test.yaml:4: storage.cache_bytes: ", "got a map");
  CHECK_REJECTED(With("limits: {max_siblings: 0}\n"), "test.yaml:4: limits.max_siblings: ", "between 1 and");
  CHECK_REJECTED(With("limits: {max_connections: -5}\n"),
                 "test.yaml:4: limits.max_connections: ", "got '-5'");
  CHECK_REJECTED(With("limits: {max_pending_requests: 2.5}\n"),
                 "test.yaml:4: limits.max_pending_requests: ", "whole number");
  CHECK_REJECTED(With("log_level: verbose\n"),
                 "test.yaml:4: log_level: ", "expected debug, info, warn or error");
  CHECK_REJECTED(With("request_timeout: 0s\n"), "test.yaml:4: request_timeout: ", "out of range");
  CHECK_REJECTED(With("storage: {reap_interval: 0}\n"),
                 "test.yaml:4: storage.reap_interval: ", "out of range");
}

TEST_CASE("r and w must lie between 1 and n") {
  CHECK_REJECTED(With("replication:\n  n: 2\n  r: 3\n"),
                 "test.yaml:6: replication.r: ", "3 exceeds replication.n (2); r must be between 1 and n");
  CHECK_REJECTED(With("replication: {n: 3, r: 2, w: 4}\n"),
                 "test.yaml:4: replication.w: ", "4 exceeds replication.n (3)");
  CHECK_REJECTED(With("replication:\n  r: 0\n"),
                 "test.yaml:5: replication.r: ", "r must be between 1 and n (3)");
  CHECK_REJECTED(With("replication:\n  w: 0\n"), "test.yaml:5: replication.w: ", "w must be between 1 and n");
  CHECK_REJECTED(With("replication:\n  n: 0\n"), "test.yaml:5: replication.n: ", "between 1 and");
  CHECK_REJECTED(With("replication:\n\n  n: 1\n"),
                 "test.yaml:6: replication.r: ", "the default r (2) exceeds replication.n (1)");
  const Config one = Parsed(With("replication: {n: 1, r: 1, w: 1}\n"));
  CHECK(one.replication.n == 1);
  const Config all = Parsed(With("replication: {n: 3, r: 3, w: 3}\n"));
  CHECK(all.replication.r == 3);
}

TEST_CASE("listen addresses must be HOST:PORT with a port in 1..65535") {
  const std::string head = "node_id: n1\ndata_dir: /d\nlisten:\n  peer: 127.0.0.1:7201\n";
  CHECK_REJECTED(head + "  client: 127.0.0.1:0\n",
                 "test.yaml:5: listen.client: ", "expected HOST:PORT with a port between 1 and 65535");
  CHECK_REJECTED(head + "  client: 127.0.0.1:65536\n", "test.yaml:5: listen.client: ", "127.0.0.1:65536");
  CHECK_REJECTED(head + "  client: localhost\n", "test.yaml:5: listen.client: ", "HOST:PORT");
  CHECK_REJECTED(head + "  client: \"\"\n", "test.yaml:5: listen.client: ", "HOST:PORT");
  CHECK_REJECTED("node_id: n1\ndata_dir: /d\nlisten: {client: 127.0.0.1:7101, peer: 127.0.0.1:99999}\n",
                 "test.yaml:3: listen.peer: ", "HOST:PORT");
  CHECK_REJECTED(head + "  client: 127.0.0.1:7201\n",
                 "test.yaml:4: listen.peer: ", "same address as listen.client");
  CHECK(Parsed(head + "  client: 127.0.0.1:65535\n").client_address.port == 65535);
  CHECK(Parsed(head + "  client: 127.0.0.1:1\n").client_address.port == 1);
}

TEST_CASE("listen.http and listen.resp are optional, each on a port of its own") {
  const std::string head = "node_id: n1\ndata_dir: /d\nlisten:\n  client: 127.0.0.1:7101\n  peer: 127.0.0.1:7201\n";
  const Config none = Parsed(head);
  CHECK(!none.http_address);
  CHECK(!none.resp_address);
  const Config both = Parsed(head + "  http: 127.0.0.1:7301\n  resp: 127.0.0.1:7401\n");
  REQUIRE(both.resp_address);
  CHECK(both.resp_address->port == 7401);
  CHECK(both.http_address->port == 7301);
  CHECK_REJECTED(head + "  resp: 127.0.0.1:7101\n", "test.yaml:6: listen.resp: ", "same address as listen.client");
  CHECK_REJECTED(head + "  http: 127.0.0.1:7301\n  resp: 127.0.0.1:7301\n",
                 "test.yaml:7: listen.resp: ", "same address as listen.http");
  CHECK_REJECTED(head + "  http: 127.0.0.1:7201\n", "test.yaml:6: listen.http: ", "same address as listen.peer");
  CHECK_REJECTED(head + "  resp: nowhere\n", "test.yaml:6: listen.resp: ", "HOST:PORT");
}

TEST_CASE("advertise.client and advertise.peer default to the listen addresses and may not be wildcards") {
  const std::string head =
      "node_id: n1\ndata_dir: /d\nlisten:\n  client: 0.0.0.0:7101\n  peer: 0.0.0.0:7201\n";
  const Config none = Parsed(head);
  CHECK(none.AdvertisedClient().ToString() == "0.0.0.0:7101");
  CHECK(none.AdvertisedPeer().ToString() == "0.0.0.0:7201");
  const Config both = Parsed(head + "advertise: { client: 10.0.0.5:7101, peer: 10.0.0.5:17201 }\n");
  CHECK(both.AdvertisedClient().ToString() == "10.0.0.5:7101");
  CHECK(both.AdvertisedPeer().ToString() == "10.0.0.5:17201");
  CHECK(both.client_address.ToString() == "0.0.0.0:7101");  // still where it listens
  CHECK(Parsed(head + "advertise:\n  peer: 10.0.0.5:7201\n").AdvertisedClient().ToString() == "0.0.0.0:7101");
  CHECK_REJECTED(head + "advertise:\n  client: 0.0.0.0:7101\n", "test.yaml:7: advertise.client: ", "wildcard");
  CHECK_REJECTED(head + "advertise:\n  peer: \"[::]:7201\"\n", "test.yaml:7: advertise.peer: ", "wildcard");
  CHECK_REJECTED(head + "advertise:\n  peer: somewhere\n", "test.yaml:7: advertise.peer: ", "HOST:PORT");
  CHECK_REJECTED(head + "advertise:\n  gossip: 10.0.0.5:7201\n", "test.yaml:7: ", "advertise.gossip");
}

TEST_CASE("security.tls takes its three files together, or none") {
  CHECK_FALSE(Parsed(kMinimal).security.tls.has_value());
  const Config tls = Parsed(With("security:\n  tls:\n    cert_file: n1.crt\n    key_file: n1.key\n"
                                 "    ca_file: /etc/dynkv/ca.crt\n"));
  REQUIRE(tls.security.tls.has_value());
  CHECK(tls.security.tls->cert_file == "n1.crt");
  CHECK(tls.security.tls->key_file == "n1.key");
  CHECK(tls.security.tls->ca_file == "/etc/dynkv/ca.crt");
  CHECK(Summary(tls).find(", tls,") != std::string::npos);
  CHECK_REJECTED(With("security:\n  tls:\n    cert_file: n1.crt\n    key_file: n1.key\n"),
                 "test.yaml:5: security.tls.ca_file: ", "security.tls needs cert_file, key_file and ca_file");
  CHECK_REJECTED(With("security:\n  tls:\n    cert_file: \"\"\n"), "test.yaml:6: security.tls.cert_file: ", "is empty");
  CHECK_REJECTED(With("security:\n  tls:\n    cert: n1.crt\n"), "test.yaml:6: ", "cert_file");
}

TEST_CASE("the node gossips its advertised addresses, and its own listen.peer is no seed then") {
  const Config config = Parsed(
      "node_id: n1\ndata_dir: /d\nlisten: { client: 0.0.0.0:7101, peer: 0.0.0.0:7201 }\n"
      "advertise: { client: 10.0.0.5:7101, peer: 10.0.0.5:7201 }\n"
      "seeds: [0.0.0.0:7201, 10.0.0.5:7201, 10.0.0.6:7201]\n");
  const MembershipOptions options = MembershipOptionsFor(config, Identity{}, false);
  CHECK(options.driver.self.client_address == "10.0.0.5:7101");
  CHECK(options.driver.self.peer_address == "10.0.0.5:7201");
  CHECK(options.driver.gossip.seeds == std::vector<std::string>{"10.0.0.5:7201", "10.0.0.6:7201"});
}

TEST_CASE("node_id and data_dir are checked") {
  const std::string listen = "listen: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201}\n";
  CHECK_REJECTED(listen + "data_dir: /d\nnode_id: node 1\n",
                 "test.yaml:3: node_id: ", "'node 1' is not a valid node id; expected 1 to 64 characters");
  CHECK_REJECTED(listen + "data_dir: /d\nnode_id: n/1\n", "test.yaml:3: node_id: ", "not a valid node id");
  CHECK_REJECTED(listen + "data_dir: /d\nnode_id: \"\"\n", "test.yaml:3: node_id: ", "not a valid node id");
  CHECK_REJECTED(listen + "data_dir: /d\nnode_id: " + std::string(65, 'a') + "\n",
                 "test.yaml:3: node_id: ", "not a valid node id");
  CHECK(Parsed(listen + "data_dir: /d\nnode_id: " + std::string(64, 'a') + "\n").node_id.size() == 64);
  CHECK_REJECTED(listen + "node_id: n1\ndata_dir: \"\"\n", "test.yaml:3: data_dir: ", "is empty; expected");
  CHECK_REJECTED(listen + "node_id: n1\ndata_dir:\n", "test.yaml:3: data_dir: ", "got nothing");
  CHECK_REJECTED(listen + "node_id: n1\ndata_dir: \"/a\\0b\"\n", "test.yaml:3: data_dir: ", "NUL");
}

TEST_CASE("seeds are checked one by one and may not repeat") {
  CHECK_REJECTED(With("seeds:\n  - 127.0.0.1:7201\n  - 127.0.0.1:7202\n  - 127.0.0.1:7201\n"),
                 "test.yaml:7: seeds[2]: ", "'127.0.0.1:7201' is already listed as seeds[0] (line 5)");
  CHECK_REJECTED(With("seeds: [127.0.0.1:7202, 127.0.0.1:0]\n"), "test.yaml:4: seeds[1]: ", "HOST:PORT");
  // The node's own peer address may be a seed: every node can share one list.
  CHECK(Parsed(With("seeds: [127.0.0.1:7201, 127.0.0.1:7202]\n")).seeds.size() == 2);
}

TEST_CASE("storage values outside what the engine accepts are rejected") {
  CHECK_REJECTED(With("storage:\n  compress_level: 0\n"),
                 "test.yaml:5: storage.compress_level: ", "between 1 and 19");
  CHECK_REJECTED(With("storage:\n  compress_level: 20\n"),
                 "test.yaml:5: storage.compress_level: ", "between 1 and 19");
  CHECK_REJECTED(With("storage: {write_buffer_bytes: 1KiB}\n"),
                 "test.yaml:4: storage.write_buffer_bytes: ", "between 64KiB and 1GiB");
  CHECK_REJECTED(With("storage: {write_buffer_bytes: 2GiB}\n"),
                 "test.yaml:4: storage.write_buffer_bytes: ", "out of range");
  CHECK_REJECTED(With("storage: {block_bytes: 512}\n"), "test.yaml:4: storage.block_bytes: ", "between");
  CHECK_REJECTED(With("storage: {block_bytes: 8MiB}\n"), "test.yaml:4: storage.block_bytes: ", "between");
  CHECK_REJECTED(With("storage: {compress_min_bytes: 5GiB}\n"),
                 "test.yaml:4: storage.compress_min_bytes: ", "out of range");
  const Config c = Parsed(With("storage: {compress_min_bytes: 0, cache_bytes: 0, tombstone_grace: 0}\n"));
  CHECK(c.storage.compress_min_bytes == 0);
  CHECK(c.storage.cache_bytes == 0);
  CHECK(c.tombstone_grace_ms == 0);
}

TEST_CASE("limits must let the largest Put fit") {
  CHECK_REJECTED(With("limits:\n  max_value_bytes: 8MiB\n  max_object_bytes: 4MiB\n"),
                 "test.yaml:6: limits.max_object_bytes: ", "is smaller than max_value_bytes (8MiB)");
  // The default max_object_bytes (16MiB) is blamed on the value that broke it.
  CHECK_REJECTED(With("limits:\n  max_value_bytes: 20MiB\n"),
                 "test.yaml:5: limits.max_value_bytes: ", "max_object_bytes (16MiB) is smaller");
  CHECK_REJECTED(
      With("limits:\n  max_value_bytes: 20MiB\n  max_object_bytes: 64MiB\n  max_frame_bytes: 20MiB\n"),
      "test.yaml:7: limits.max_frame_bytes: ",
      "max_frame_bytes (20MiB) is smaller than max_key_bytes + max_value_bytes + 64KiB");
  CHECK_REJECTED(With("limits:\n  max_value_bytes: 32MiB\n  max_object_bytes: 32MiB\n"),
                 "test.yaml:5: limits.max_value_bytes: ", "max_frame_bytes (32MiB) is smaller");
  // 4KiB key + 4MiB value + 64KiB: exactly enough, and one byte short.
  CHECK(Parsed(With("limits: {max_frame_bytes: 4263936}\n")).limits.max_frame_bytes == 4263936);
  CHECK_REJECTED(With("limits: {max_frame_bytes: 4263935}\n"),
                 "test.yaml:4: limits.max_frame_bytes: ", "is smaller than");
  CHECK_REJECTED(With("limits: {max_frame_bytes: 4GiB}\n"),
                 "test.yaml:4: limits.max_frame_bytes: ", "out of range");
}

TEST_CASE("connection limits parse, with defaults when absent") {
  const Config defaults = Parsed(kMinimal);
  const net::ConnectionLimits& d = defaults.limits.connections;
  CHECK(d.max_output_bytes == 64ull << 20);
  CHECK(d.max_output_hard_bytes == 256ull << 20);
  CHECK(d.output_timeout_ms == 60'000);
  CHECK(d.frame_timeout_ms == 30'000);
  CHECK(d.idle_timeout_ms == 0);

  const Config c = Parsed(With("limits:\n  max_output_bytes: 8MiB\n  max_output_hard_bytes: 1GiB\n"
                               "  output_timeout: 5s\n  frame_timeout: 0\n  idle_timeout: 10m\n"));
  const net::ConnectionLimits& l = c.limits.connections;
  CHECK(l.max_output_bytes == 8ull << 20);
  CHECK(l.max_output_hard_bytes == 1ull << 30);
  CHECK(l.output_timeout_ms == 5'000);
  CHECK(l.frame_timeout_ms == 0);
  CHECK(l.idle_timeout_ms == 600'000);
}

TEST_CASE("the hard output cap may not be below the bound where reading stops") {
  CHECK_REJECTED(With("limits:\n  max_output_bytes: 512MiB\n"),
                 "test.yaml:5: limits.max_output_bytes: ",
                 "max_output_hard_bytes (256MiB) is smaller than max_output_bytes (512MiB)");
  CHECK_REJECTED(With("limits: {max_output_hard_bytes: 1MiB}\n"), "test.yaml:4: limits.max_output_hard_bytes: ",
                 "is smaller than max_output_bytes (64MiB)");
  CHECK(Parsed(With("limits: {max_output_bytes: 1MiB, max_output_hard_bytes: 1MiB}\n"))
            .limits.connections.max_output_hard_bytes == 1ull << 20);
  CHECK_REJECTED(With("limits: {max_output_bytes: 0}\n"), "test.yaml:4: limits.max_output_bytes: ", "out of range");
  CHECK_REJECTED(With("limits: {idle_timeout: -1s}\n"), "test.yaml:4: limits.idle_timeout: ", "");
}

TEST_CASE("sizes take whole bytes or a number with a binary or decimal unit") {
  CHECK(CacheBytes("0") == 0);
  CHECK(CacheBytes("1000") == 1000);
  CHECK(CacheBytes("\"1000\"") == 1000);
  CHECK(CacheBytes("7B") == 7);
  CHECK(CacheBytes("3KiB") == 3 * 1024);
  CHECK(CacheBytes("2MiB") == 2 * 1024 * 1024);
  CHECK(CacheBytes("5GiB") == 5ull << 30);
  CHECK(CacheBytes("5KB") == 5'000);
  CHECK(CacheBytes("5MB") == 5'000'000);
  CHECK(CacheBytes("5GB") == 5'000'000'000ull);
  CHECK(CacheBytes("64 MiB") == 64ull << 20);
  // A fraction is fine when it comes to whole bytes.
  CHECK(CacheBytes("1.5MiB") == 1536 * 1024);
  CHECK(CacheBytes("0.5KiB") == 512);
  CHECK(CacheBytes("2.5KB") == 2500);
  CHECK(CacheBytes("17179869183GiB") == 17179869183ull << 30);
}

TEST_CASE("sizes that are not sizes are rejected") {
  for (std::string_view bad :
       {"12XB", "-5", "-5MiB", "1.5", "0.1KiB", "MiB", "\"\"", "1e3", "1,024", "5 mib", "5kib", "0x10", "+5",
        "5.", ".5KiB", "1.0000000001GiB", "17179869184GiB", "18446744073709551616"}) {
    INFO(bad);
    CHECK_REJECTED(With("storage:\n  cache_bytes: " + std::string(bad) + "\n"),
                   "test.yaml:5: storage.cache_bytes: ",
                   "is not a size (whole bytes, or a number with a unit B, KiB, MiB, GiB, KB, MB or GB");
  }
}

TEST_CASE("durations take ms, s, m, h, d, and a bare number is seconds") {
  CHECK(GraceMs("250ms") == 250);
  CHECK(GraceMs("30s") == 30'000);
  CHECK(GraceMs("2m") == 120'000);
  CHECK(GraceMs("3h") == 3 * 3'600'000);
  CHECK(GraceMs("7d") == 7LL * 86'400'000);
  CHECK(GraceMs("10") == 10'000);
  CHECK(GraceMs("\"10s\"") == 10'000);
  CHECK(GraceMs("1.5h") == 5'400'000);
  CHECK(GraceMs("0.25s") == 250);
  CHECK(Parsed(With("request_timeout: 4294967295ms\n")).request_timeout_ms == 4294967295u);
  CHECK_REJECTED(With("request_timeout: 4294967296ms\n"), "test.yaml:4: request_timeout: ", "out of range");
  for (std::string_view bad : {"-5s", "5x", "5S", "5 sec", "s", "1.0005s", "1.5ms", "5s5", "1h30m"}) {
    INFO(bad);
    CHECK_REJECTED(
        With("storage:\n  tombstone_grace: " + std::string(bad) + "\n"),
        "test.yaml:5: storage.tombstone_grace: ", "is not a duration (a number with a unit ms, s, m, h or d");
  }
}

// A directory of its own under $DYNKV_TEST_TMP (else /tmp), removed at the end.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("DYNKV_TEST_TMP");
    std::filesystem::path parent = base != nullptr && *base != '\0' ? base : "/tmp";
    std::filesystem::create_directories(parent);
    std::string pattern = (parent / "config_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST_CASE("LoadConfigFile reads a file and names it in messages") {
  TempDir dir;
  const std::string path = (dir.path() / "node.yaml").string();
  {
    std::ofstream out(path);
    out << kMinimal << "replication: {n: 2, r: 3}\n";
  }
  Result<Config> config = LoadConfigFile(path);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == Code::kInvalidArgument);
  CHECK(config.status().message().starts_with(path + ":4: replication.r: "));
  {
    std::ofstream out(path);
    out << kMinimal;
  }
  config = LoadConfigFile(path);
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  CHECK(config->source == path);
  CHECK(config->node_id == "n1");
}

TEST_CASE("LoadConfigFile on a missing path or a directory says it cannot read it") {
  TempDir dir;
  const std::string missing = (dir.path() / "absent.yaml").string();
  Result<Config> config = LoadConfigFile(missing);
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == Code::kInvalidArgument);
  CHECK(config.status().message() == "cannot read config file " + missing + ": No such file or directory");
  config = LoadConfigFile(dir.path().string());
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().message() == "cannot read config file " + dir.path().string() + ": Is a directory");
}

// Every error, for any input, has the "<source>:<line>: <field>: " shape.
bool HasLocation(const std::string& message) {
  constexpr std::string_view kSource = "test.yaml:";
  if (!message.starts_with(kSource)) return false;
  size_t i = kSource.size();
  const size_t digits_begin = i;
  while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i]))) ++i;
  if (i == digits_begin || message.compare(i, 2, ": ") != 0) return false;
  const size_t field_end = message.find(": ", i + 2);
  return field_end != std::string::npos && field_end > i + 2;
}

TEST_CASE("mangled configs are rejected with a located message, never a crash") {
  const std::string valid = With(
      "seeds: [127.0.0.1:7202, 127.0.0.1:7203]\nreplication: {n: 3, r: 2, w: 2}\n"
      "storage:\n  cache_bytes: 64MiB\n  sync: false\n  tombstone_grace: 7d\nlimits:\n  max_siblings: 100\n"
      "request_timeout: 5s\nlog_level: info\n");
  constexpr std::string_view kAlphabet = ":-[]{}\"'#\n &*!|>%@`,?~ aZ09.\\\t";
  const uint64_t seed = 20240611;
  std::mt19937_64 random(seed);
  for (int round = 0; round < 3000; ++round) {
    std::string text = valid;
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = random() % text.size();
      const char c = kAlphabet[random() % kAlphabet.size()];
      switch (random() % 3) {
        case 0:
          text[at] = c;
          break;
        case 1:
          text.insert(at, 1, c);
          break;
        default:
          text.erase(at, 1);
          break;
      }
    }
    Result<Config> config = ParseConfig(text, "test.yaml");
    if (config.ok()) continue;
    INFO("seed " << seed << " round " << round << "\n" << text);
    CHECK(config.status().code() == Code::kInvalidArgument);
    CHECK_MESSAGE(HasLocation(config.status().message()), config.status().message());
  }
}

TEST_CASE("replication.datacenters sets each datacenter's replicas; r and w count against their sum") {
  const Config config = Parsed(With("location: {datacenter: east, rack: r2}\n"
                                    "replication:\n  r: 4\n  datacenters: { east: 3, west: 2 }\n"));
  CHECK(config.replication.datacenters == std::map<std::string, uint32_t>{{"east", 3}, {"west", 2}});
  CHECK(config.replication.total() == 5);
  CHECK(config.membership.datacenter == "east");
  CHECK(config.membership.rack == "r2");
  CHECK(Summary(config).ends_with("n=5 (east:3 west:2) r=4 w=2"));
  CHECK(Parsed(kMinimal).replication.datacenters.empty());
  CHECK(Parsed(kMinimal).replication.total() == 3);

  CHECK_REJECTED(With("replication:\n  datacenters: [east, west]\n"), "test.yaml:5: replication.datacenters: ",
                 "expected a map of datacenter names to replica counts");
  CHECK_REJECTED(With("replication:\n  datacenters: { east: 0 }\n"), "test.yaml:5: replication.datacenters.east: ",
                 "expected a whole number between 1 and 64, got '0'");
  CHECK_REJECTED(With("replication:\n  datacenters: { east: 2, east: 1 }\n"),
                 "test.yaml:5: replication.datacenters.east: ", "given twice");
  CHECK_REJECTED(With("replication:\n  w: 4\n  datacenters: { east: 2, west: 1 }\n"), "test.yaml:5: replication.w: ",
                 "4 exceeds the replicas of replication.datacenters (3); w must be between 1 and their sum");
  CHECK_REJECTED(With("replication:\n  datacenters: { east: 1 }\n"), "test.yaml:",
                 "the default r (2) exceeds the replicas of replication.datacenters (1)");
}

}  // namespace
}  // namespace dynkv::node

namespace dynkv::node {
namespace {

constexpr const char* kMembershipBase =
    "node_id: n1\n"
    "listen: { client: 127.0.0.1:7101, peer: 127.0.0.1:7201 }\n"
    "data_dir: /tmp/d\n";

TEST_CASE("membership settings parse, with defaults when absent") {
  Result<Config> defaults = ParseConfig(kMembershipBase, "m.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->membership.cluster_name == "dynkv");
  CHECK(defaults->membership.vnodes == 16);
  CHECK(defaults->membership.gossip_interval_ms == 100);
  CHECK(defaults->membership.phi_threshold == doctest::Approx(8.0));
  CHECK(defaults->membership.max_digests == 128);

  Result<Config> set = ParseConfig(std::string(kMembershipBase) +
                                       "cluster_name: prod\n"
                                       "location: { datacenter: eu1, rack: r7 }\n"
                                       "ring: { vnodes: 32 }\n"
                                       "gossip: { interval_ms: 250, max_digests: 64 }\n"
                                       "failure_detector: { phi_threshold: 10.5 }\n",
                                   "m.yaml");
  REQUIRE(set.ok());
  CHECK(set->membership.cluster_name == "prod");
  CHECK(set->membership.datacenter == "eu1");
  CHECK(set->membership.rack == "r7");
  CHECK(set->membership.vnodes == 32);
  CHECK(set->membership.gossip_interval_ms == 250);
  CHECK(set->membership.max_digests == 64);
  CHECK(set->membership.phi_threshold == doctest::Approx(10.5));
}

TEST_CASE("bad membership settings name their line and field") {
  const std::pair<const char*, const char*> cases[] = {
      {"ring: { vnodes: 0 }\n", "m.yaml:4: ring.vnodes: "},
      {"gossip: { interval_ms: 5 }\n", "m.yaml:4: gossip.interval_ms: "},
      {"gossip: { max_digests: 4 }\n", "m.yaml:4: gossip.max_digests: "},
      {"failure_detector: { phi_threshold: lots }\n", "m.yaml:4: failure_detector.phi_threshold: "},
      {"failure_detector: { phi_threshold: 0.5 }\n", "m.yaml:4: failure_detector.phi_threshold: "},
      {"ring: { tokens: 3 }\n", "m.yaml:4: ring.tokens: "},
      {"cluster_name: \"\"\n", "m.yaml:4: cluster_name: "},
  };
  for (const auto& [extra, prefix] : cases) {
    Result<Config> config = ParseConfig(std::string(kMembershipBase) + extra, "m.yaml");
    CAPTURE(extra);
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().message().rfind(prefix, 0) == 0);
  }
}

}  // namespace
}  // namespace dynkv::node

namespace dynkv::node {
namespace {

TEST_CASE("replication and handoff settings parse, with defaults when absent") {
  constexpr const char* kBase =
      "node_id: n1\n"
      "listen: { client: 127.0.0.1:7101, peer: 127.0.0.1:7201 }\n"
      "data_dir: /tmp/d\n";
  Result<Config> defaults = ParseConfig(kBase, "h.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->replication.sloppy_quorum);
  CHECK(defaults->replication.hinted_writes_count);
  CHECK_FALSE(defaults->replication.last_write_wins);
  CHECK(defaults->handoff.hint_window_ms == 3 * 3600 * 1000);

  Result<Config> set = ParseConfig(std::string(kBase) +
                                       "replication: { n: 3, r: 1, w: 3, sloppy_quorum: false, "
                                       "hinted_writes_count: false, conflicts: lww }\n"
                                       "handoff: { max_bytes_per_sec: 1MiB, hint_window: 10m }\n",
                                   "h.yaml");
  REQUIRE(set.ok());
  CHECK_FALSE(set->replication.sloppy_quorum);
  CHECK_FALSE(set->replication.hinted_writes_count);
  CHECK(set->replication.last_write_wins);
  CHECK(set->handoff.max_bytes_per_sec == 1u << 20);
  CHECK(set->handoff.hint_window_ms == 600'000);

  Result<Config> bad = ParseConfig(std::string(kBase) + "replication: { conflicts: newest }\n", "h.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().rfind("h.yaml:4: replication.conflicts: ", 0) == 0);
}

TEST_CASE("Summary names what an operator checks first, on one line") {
  const Config minimal = Parsed(kMinimal);
  CHECK(Summary(minimal) ==
        "node n1, client 127.0.0.1:7101, peer 127.0.0.1:7201, data_dir /var/lib/dynkv/n1, "
        "no seeds (a cluster of one), n=3 r=2 w=2");

  const Config full = Parsed(
      "node_id: n1\n"
      "listen: {client: 127.0.0.1:7101, peer: 127.0.0.1:7201, http: 127.0.0.1:7301, resp: '[::1]:6379'}\n"
      "data_dir: /var/lib/dynkv/n1\n"
      "seeds: [10.0.0.1:7201, 10.0.0.2:7201]\n"
      "replication: {n: 5, r: 3, w: 4}\n");
  const std::string line = Summary(full);
  CHECK(line ==
        "node n1, client 127.0.0.1:7101, peer 127.0.0.1:7201, http 127.0.0.1:7301, resp [::1]:6379, "
        "data_dir /var/lib/dynkv/n1, 2 seeds, n=5 r=3 w=4");
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("security.clients.tokens_file reads the tokens at load; absent, no client is asked for one") {
  CHECK_FALSE(Parsed(kMinimal).security.clients.enabled());
  CHECK_FALSE(Parsed(With("security:\n")).security.clients.enabled());

  TempDir dir;
  const std::string tokens = (dir.path() / "tokens.txt").string();
  std::ofstream(tokens) << "# ops\nread-token-0123456789 read\nadmin-token-0123456789 admin\n";
  const Config config = Parsed(With("security:\n  clients:\n    tokens_file: " + tokens + "\n"));
  CHECK(config.security.clients.enabled());
  CHECK(config.security.clients.tokens_file == tokens);
  CHECK(config.security.clients.tokens.size() == 2);
  CHECK(config.security.clients.tokens.Find("admin-token-0123456789") == api::Role::kAdmin);
  CHECK(Summary(config).find(", client tokens " + tokens + " (2), ") != std::string::npos);
}

TEST_CASE("a bad tokens file is a config error naming the file and line, never the token") {
  TempDir dir;
  const std::string tokens = (dir.path() / "tokens.txt").string();
  const std::string yaml = With("security: {clients: {tokens_file: " + tokens + "}}\n");
  std::ofstream(tokens) << "read-token-0123456789 read\nsecret-token-0123456789 reader\n";
  const std::string message = Rejected(yaml);
  CHECK(message == "test.yaml:4: security.clients.tokens_file: " + tokens +
                       ":2: the role (second field) is not read, write or admin");
  CHECK(message.find("secret-token") == std::string::npos);

  CHECK_REJECTED(With("security: {clients: {tokens_file: " + (dir.path() / "absent").string() + "}}\n"),
                 "test.yaml:4: security.clients.tokens_file: cannot read tokens file ", "No such file or directory");
  CHECK_REJECTED(With("security:\n  clients:\n"), "test.yaml:5: security.clients.tokens_file: missing required field",
                 "or no security.clients section");
  CHECK_REJECTED(With("security: {clients: {tokens: x}}\n"), "test.yaml:4: security.clients.tokens: unknown key",
                 "tokens_file");
  CHECK_REJECTED(With("security: {clients: {tokens_file: ''}}\n"), "test.yaml:4: security.clients.tokens_file: ",
                 "expected the path");
}

}  // namespace
}  // namespace dynkv::node
