#include "node_cluster.h"

#include <doctest/doctest.h>

#include <utility>

#include "common/log.h"

namespace dynkv::sim {

namespace {

SimClusterOptions Options(size_t nodes, uint32_t n) {
  SimClusterOptions options;
  options.nodes = nodes;
  options.replication.n = n;
  return options;
}

}  // namespace

std::set<std::string> Values(const Object& object) {
  std::set<std::string> values;
  for (const Sibling& sibling : object.siblings) values.insert(sibling.value);
  return values;
}

NodeCluster::NodeCluster(uint64_t seed, const std::string& dir, size_t nodes, uint32_t n)
    : cluster_(seed, dir, Options(nodes, n)) {
  SetLogLevel(LogLevel::kError);  // the nodes log every join, kill and restart
  REQUIRE(cluster_.StartAll().ok());
  REQUIRE(cluster_.RunUntil([this] { return cluster_.Converged(); }, 60'000));
}

void NodeCluster::StartPut(size_t via, const std::string& key, const VersionVector& context,
                           const std::string& value, uint32_t w, uint32_t timeout_ms,
                           std::optional<Result<Object>>* out) {
  Sibling sibling;
  sibling.value = value;
  cluster_.services(via)->coordinator().Put(key, context, std::move(sibling), w, timeout_ms,
                                            [out](Result<Object> result) { *out = std::move(result); });
}

std::optional<Result<Object>> NodeCluster::Put(size_t via, const std::string& key,
                                               const VersionVector& context, const std::string& value,
                                               uint32_t w, uint32_t timeout_ms, int64_t max_ms) {
  std::optional<Result<Object>> out;
  StartPut(via, key, context, value, w, timeout_ms, &out);
  RunUntil([&out] { return out.has_value(); }, max_ms);
  return out;
}

std::optional<Result<Object>> NodeCluster::Get(size_t via, const std::string& key, uint32_t r,
                                               uint32_t timeout_ms, int64_t max_ms) {
  std::optional<Result<Object>> out;
  cluster_.services(via)->coordinator().Get(key, r, timeout_ms,
                                            [&out](Result<Object> result) { out = std::move(result); });
  RunUntil([&out] { return out.has_value(); }, max_ms);
  return out;
}

Object NodeCluster::Stored(size_t i, const std::string& key) {
  Result<Object> stored = cluster_.Stored(i, key);
  REQUIRE_MESSAGE(stored.ok(), stored.status().ToString());
  return *stored;
}

uint64_t NodeCluster::HintsKept(size_t i) {
  if (!cluster_.running(i)) return 0;  // a dead node keeps no hint it could hand over
  Result<uint64_t> hints = cluster_.HintsKept(i);
  REQUIRE_MESSAGE(hints.ok(), hints.status().ToString());
  return *hints;
}

void NodeCluster::Crash(size_t i) {
  cluster_.Kill(i);
  REQUIRE(cluster_.RunUntil([this, i] { return cluster_.AllSeeUp(i, false); }, 30'000));
}

void NodeCluster::Silence(size_t i) {
  silenced_.insert(cluster_.peer_address(i));
  std::vector<std::set<std::string>> groups;
  for (const std::string& address : silenced_) groups.push_back({address});
  cluster_.network().Partition(groups);
}

void NodeCluster::RestoreAll() {
  silenced_.clear();
  cluster_.network().Heal();
  for (size_t i = 0; i < cluster_.size(); ++i) {
    cluster_.RefuseAtOnce(i, false);
    if (!cluster_.running(i)) REQUIRE(cluster_.Start(i).ok());
  }
  REQUIRE(cluster_.RunUntil([this] { return cluster_.Converged(); }, 60'000));
}

}  // namespace dynkv::sim
