#include "fuzz_node.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "common/log.h"

namespace dynkv::fuzz {
namespace {

constexpr uint64_t kSeed = 14;
constexpr int64_t kStartMs = 60'000;

std::string MakeDataDir() {
  const char* base = std::getenv("TMPDIR");
  std::string name = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/dynkv-fuzz-XXXXXX";
  if (mkdtemp(name.data()) == nullptr) {
    std::perror("fuzz: mkdtemp");
    std::abort();
  }
  return name;
}

sim::SimClusterOptions OneNode() {
  sim::SimClusterOptions options;
  options.nodes = 1;
  options.seed_nodes = 1;
  options.replication.n = 1;
  options.replication.r = 1;
  options.replication.w = 1;
  options.request_timeout_ms = 1000;
  return options;
}

}  // namespace

FuzzNode::FuzzNode() : dir_(MakeDataDir()) {
  SetLogLevel(LogLevel::kError);  // a node logs every bad request at warn
  cluster_ = std::make_unique<sim::SimCluster>(kSeed, dir_, OneNode());
  EnsureRunning();
}

FuzzNode::~FuzzNode() {
  cluster_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void FuzzNode::EnsureRunning() {
  if (cluster_->running(0)) return;
  // Started again on its data dir. A node that left goes on with its
  // leave and stops at once (docs/OPERATIONS.md: Leaving): then it starts
  // on an empty data dir, as an operator brings back a retired node.
  Start([this] { return cluster_->Start(0); });
  if (!cluster_->running(0)) Start([this] { return cluster_->Replace(0); });
  if (!cluster_->running(0)) {
    std::fprintf(stderr, "fuzz: the node stops by itself on an empty data dir\n");
    std::abort();
  }
}

void FuzzNode::Start(const std::function<Status()>& start) {
  if (Status started = start(); !started.ok()) {
    std::fprintf(stderr, "fuzz: the node does not start: %s\n", started.ToString().c_str());
    std::abort();
  }
  if (!cluster_->RunUntil([this] { return !cluster_->running(0) || cluster_->Converged(); }, kStartMs)) {
    std::fprintf(stderr, "fuzz: the node is not ready after %lld ms\n", static_cast<long long>(kStartMs));
    std::abort();
  }
}

void FuzzNode::AwaitReply(const bool& replied, std::string_view what) {
  const bool done = cluster_->RunUntil([&] { return replied || !cluster_->running(0); }, kReplyWaitMs, 1);
  if (!done) {
    std::fprintf(stderr, "fuzz: a %.*s request got no reply within %lld ms\n", static_cast<int>(what.size()),
                 what.data(), static_cast<long long>(kReplyWaitMs));
    std::abort();
  }
}

dynkv::client::Response FuzzNode::Client(const dynkv::client::Request& request) {
  EnsureRunning();
  dynkv::client::Response response;
  bool replied = false;
  int replies = 0;
  cluster_->services(0)->client_service().Handle(request, [&response, &replied, &replies](dynkv::client::Response r) {
    if (++replies > 1) {
      std::fprintf(stderr, "fuzz: a client request was answered twice\n");
      std::abort();
    }
    response = std::move(r);
    replied = true;
  });
  AwaitReply(replied, "client");
  return response;
}

peer::PeerResponse FuzzNode::Peer(const peer::PeerRequest& request) {
  EnsureRunning();
  peer::PeerResponse response;
  bool replied = false;
  int replies = 0;
  cluster_->services(0)->peer_handler().Handle(request, [&response, &replied, &replies](peer::PeerResponse r) {
    if (++replies > 1) {
      std::fprintf(stderr, "fuzz: a peer request was answered twice\n");
      std::abort();
    }
    response = std::move(r);
    replied = true;
  });
  AwaitReply(replied, "peer");
  return response;
}

}  // namespace dynkv::fuzz
