// Node: one dynkvd process. Opens the data dir, serves the client and peer
// ports, rereads its client tokens on SIGHUP (security.clients), and runs
// the event loop until SIGTERM or SIGINT, then shuts down
// cleanly: queued storage work finishes and is answered, connections close
// after their last response, every libuv handle is closed and
// uv_loop_close() returns 0.
//
// The modules themselves are wired by NodeServices on a UvEnv; Node adds
// the loop, the sockets and the signals.
//
// Threads: the event-loop thread (Run's caller) owns everything here except
// the storage worker's own thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "net/peer_transport.h"
#include "api/client_server.h"
#include "api/http_server.h"
#include "api/resp_commands.h"
#include "api/resp_server.h"
#include "node/completion_queue.h"
#include "node/config.h"
#include "node/node_tls.h"
#include "node/services.h"
#include "node/uv_env.h"

namespace dynkv::node {

class Node {
 public:
  // Opens storage and binds the ports. Errors name what failed (a locked or
  // corrupt data dir, an address in use) for the operator.
  static Result<std::unique_ptr<Node>> Start(const Config& config);
  ~Node();

  // Runs until a shutdown signal. Returns OK when every handle closed.
  Status Run();

 private:
  explicit Node(Config config);

  Status Open();
  // security.clients: the tokens the client and RESP ports check; without
  // it, a warning that they check nothing.
  void OpenClientAuth();
  Status OpenPorts();
  Status OpenHttp();
  api::HttpResponse Http(std::string_view path) const;
  Status OpenResp();
  // DBSIZE's estimate: this node's keys over the share of keys it holds.
  std::optional<uint64_t> EstimateKeys() const;
  Status StartSignals();
  // SIGHUP: rereads the client tokens file; a bad file keeps the old tokens.
  void ReloadTokens();
  void BeginShutdown();
  void CloseAll();
  void ReleaseHandles();

  Config config_;
  NodeTls tls_;  // all null without security.tls
  SystemClock clock_;
  uv_loop_t loop_{};
  bool loop_open_ = false;
  CompletionQueue completions_;
  std::unique_ptr<UvEnv> env_;
  std::unique_ptr<api::ClientAuth> client_auth_;  // null without security.clients
  std::unique_ptr<NodeServices> services_;
  std::unique_ptr<api::ClientServer> server_;
  std::unique_ptr<api::HttpServer> http_server_;
  std::unique_ptr<api::RespCommands> resp_commands_;
  std::unique_ptr<api::RespServer> resp_server_;
  std::unique_ptr<net::PeerServer> peer_server_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  bool shutting_down_ = false;
};

}  // namespace dynkv::node
