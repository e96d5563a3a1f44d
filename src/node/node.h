// Node: one dynkvd process. Opens the data dir, serves the client port, and
// runs the event loop until SIGTERM or SIGINT, then shuts down cleanly:
// queued storage work finishes and is answered, connections close after
// their last response, every libuv handle is closed and uv_loop_close()
// returns 0.
//
// Threads: the event-loop thread (Run's caller) owns everything here except
// the storage worker's own thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "node/client_server.h"
#include "node/client_service.h"
#include "node/completion_queue.h"
#include "node/config.h"
#include "node/coordinator.h"
#include "node/handoff_driver.h"
#include "node/identity.h"
#include "node/membership.h"
#include "net/peer_transport.h"
#include "quorum/replica.h"
#include "storage/storage.h"

namespace dynkv::node {

inline constexpr const char* kVersion = "0.1.0";

class Node {
 public:
  // Opens storage and binds the client port. Errors name what failed (a
  // locked or corrupt data dir, an address in use) for the operator.
  static Result<std::unique_ptr<Node>> Start(const Config& config);
  ~Node();

  // Runs until a shutdown signal. Returns OK when every handle closed.
  Status Run();

 private:
  explicit Node(Config config);
  class PeerDispatch;

  Status Open();
  bool IsAlone() const;
  Result<Identity> OpenStorage();
  Status OpenMembership(const Identity& identity);
  Status OpenServing();
  Status StartTimersAndSignals();
  void BeginShutdown();
  void ScheduleReap();

  Config config_;
  bool first_start_alone_ = false;  // see OpenStorage
  SystemClock clock_;
  uv_loop_t loop_{};
  bool loop_open_ = false;
  CompletionQueue completions_;
  std::unique_ptr<storage::Engine> engine_;
  std::unique_ptr<storage::StorageWorker> worker_;
  std::unique_ptr<quorum::LocalReplica> replica_;
  std::unique_ptr<HandoffDriver> handoff_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<ClientService> service_;
  std::unique_ptr<ClientServer> server_;
  std::unique_ptr<net::PeerPool> peer_pool_;
  std::unique_ptr<Membership> membership_;
  std::unique_ptr<PoolPeerCaller> peer_caller_;  // the coordinator's way to its peers
  std::unique_ptr<PeerDispatch> peer_dispatch_;
  std::unique_ptr<net::PeerServer> peer_server_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_timer_t sweep_timer_{};  // request deadlines
  uv_timer_t reap_timer_{};   // TTL and tombstone expiry
  bool shutting_down_ = false;
};

}  // namespace dynkv::node
