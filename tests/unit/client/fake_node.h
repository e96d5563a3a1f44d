// A stand-in for dynkvd's client port, for the client and CLI tests: it
// serves Put/Get/Delete/Ping/Stats from a map, Leave, Transfers and Ring
// from a script, and misbehaves on request.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client.pb.h"
#include "net/net.h"

namespace dynkv::client {

struct FakeNodeOptions {
  // Holds answers until this many are ready, then sends them newest first.
  size_t answer_batch = 1;
  bool silent = false;                // never answers
  size_t close_after = 0;             // closes the connection on this request (0: never)
  // Answers this request, then closes its connection, as a node whose idle
  // timeout passes right after (0: never).
  size_t close_after_answer = 0;
  size_t connection_error_after = 0;  // on this request, an id-0 TOO_LARGE Error, then closes
  // On this request the node stops, as a dynkvd that exits: it stops
  // listening and closes every connection, unanswered (0: never).
  size_t stop_after = 0;
  // The answers to Transfers, in turn; the last one repeats. Empty: Transfers
  // is INVALID_ARGUMENT, as from a node that does not know it.
  std::vector<TransfersResponse> transfers = {};
};

// Listens on 127.0.0.1, port 0, on the given loop. A Get of "error:N"
// answers Error with code N.
class FakeNode : public net::ConnectionHandler {
 public:
  FakeNode(uv_loop_t* loop, FakeNodeOptions options);
  ~FakeNode() override;

  net::HostPort address() const { return {"127.0.0.1", listener_->port()}; }
  // Stops listening and closes every connection.
  void Close();
  // Closes every connection and goes on listening, as a node that closes
  // idle connections (limits.idle_timeout).
  void CloseConnections();

  // Called for each request as it arrives (tests synchronise on it).
  std::function<void(const Request&)> on_request;
  // The answer to Ring; none: Ring is INVALID_ARGUMENT.
  std::optional<RingResponse> ring;
  size_t requests_seen() const { return requests_seen_; }
  static constexpr const char* kConnectionError = "frame of 99 bytes exceeds limit 10";

 private:
  void OnFrame(net::Connection& connection, std::string_view payload) override;
  void OnClose(net::Connection& connection, const Status& why) override;
  Response Answer(const Request& request);

  FakeNodeOptions options_;
  std::unique_ptr<net::Listener> listener_;
  std::vector<std::unique_ptr<net::Connection>> connections_;
  std::vector<Response> held_;
  std::map<std::string, std::string> store_;
  std::atomic<size_t> requests_seen_ = 0;  // read from other threads
  size_t transfers_seen_ = 0;
};

// A FakeNode on its own thread and loop, for the blocking Client.
class FakeNodeThread {
 public:
  explicit FakeNodeThread(FakeNodeOptions options = {});
  // Stops the node's loop and joins; the loop must close cleanly.
  ~FakeNodeThread();

  net::HostPort address() const { return address_; }
  // Requests received so far; safe from any thread.
  size_t requests_seen() const { return node_->requests_seen(); }

 private:
  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<FakeNode> node_;
  net::HostPort address_;
  std::thread thread_;
};

// A port that was free a moment ago and that nothing listens on.
uint16_t ClosedPort();

}  // namespace dynkv::client
