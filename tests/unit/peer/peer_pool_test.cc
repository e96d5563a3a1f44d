// PeerPool against PeerServer over 127.0.0.1, all in one loop. The backoff
// runs on a ManualClock, so no test waits for it. Every test ends with
// uv_loop_close() == 0.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "net/peer_transport.h"
#include "peer_test_util.h"

namespace dynkv::net {
namespace {

using peer::PeerRequest;
using peer::PeerResponse;
using Reply = PeerRequestHandler::Reply;

// Jitter 0 makes the backoff delays exact: 100, 200, 400, ... ms.
PeerPoolOptions ExactBackoff() {
  PeerPoolOptions options;
  options.local_node_id = "node-a";
  options.backoff = {.initial_ms = 100, .max_ms = 5000, .jitter = 0};
  return options;
}

double HalfDraw() { return 0.5; }

bool Mentions(const Status& status, const std::string& text) {
  return status.message().find(text) != std::string::npos;
}

TEST_CASE("a request reaches the handler and its answer comes back to the caller") {
  TestLoop loop;
  ScriptedHandler handler;
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(server.port());

  std::optional<Result<PeerResponse>> answer;
  pool.Call(address, Syn("hello"), [&](Result<PeerResponse> result) {
    answer = std::move(result);
    pool.Close();
    server.Shutdown();
  });
  loop.Run();

  REQUIRE(answer.has_value());
  REQUIRE(answer->ok());
  CHECK(Tag(**answer) == "hello");
  REQUIRE(handler.seen.size() == 1);
  CHECK(handler.seen[0].from_node() == "node-a");
  CHECK(handler.seen[0].id() != 0);
  CHECK((*answer)->id() == handler.seen[0].id());
  CHECK(events.reachable == std::vector<std::string>{address});
  CHECK(events.unreachable.empty());

  const PeerStats& sent = pool.stats();
  CHECK(sent.traffic.requests_sent == 1);
  CHECK(sent.traffic.responses_received == 1);
  CHECK(sent.connect_attempts == 1);
  CHECK(sent.connects == 1);
  CHECK(sent.reconnects == 0);
  const PeerServerStats& served = server.stats();
  CHECK(served.connections_accepted == 1);
  CHECK(served.requests_received == 1);
  CHECK(served.responses_sent == 1);
  CHECK(sent.traffic.bytes_sent > 0);
  CHECK(served.bytes_received == sent.traffic.bytes_sent);
  CHECK(served.bytes_sent == sent.traffic.bytes_received);
  CHECK(server.connections() == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a PeerError answer fails the call with its code and message") {
  TestLoop loop;
  ScriptedHandler handler;
  handler.on_request = [](const PeerRequest&, Reply reply) {
    PeerResponse response;
    *response.mutable_error() = PeerErrorFromStatus(Status::Overloaded("too busy"));
    reply(response);
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);
  Status failure;
  pool.Call(Local(server.port()), Syn("x"), [&](Result<PeerResponse> result) {
    failure = result.status();
    pool.Close();
    server.Shutdown();
  });
  loop.Run();

  CHECK(failure.code() == Code::kOverloaded);
  CHECK(failure.message() == "too busy");
  CHECK(loop.Close() == 0);
}

TEST_CASE("1,000 pipelined requests answered in shuffled order each reach their own caller") {
  const uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  constexpr size_t kRequests = 1000;
  TestLoop loop;
  ScriptedHandler handler;
  std::vector<std::pair<PeerRequest, Reply>> held;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    held.emplace_back(request, std::move(reply));
    if (held.size() < kRequests) return;
    std::shuffle(held.begin(), held.end(), std::mt19937_64(seed));
    for (auto& [req, answer] : held) answer(Echo(req));
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);

  std::vector<size_t> answered;  // request numbers, in the order answered
  size_t mismatched = 0;
  for (size_t i = 0; i < kRequests; ++i) {
    pool.Call(Local(server.port()), Syn("request-" + std::to_string(i)), [&, i](Result<PeerResponse> result) {
      if (!result.ok() || Tag(*result) != "request-" + std::to_string(i)) ++mismatched;
      answered.push_back(i);
      if (answered.size() == kRequests) {
        pool.Close();
        server.Shutdown();
      }
    });
  }
  CHECK(pool.in_flight() == kRequests);
  loop.Run();

  CHECK(mismatched == 0);
  REQUIRE(answered.size() == kRequests);
  CHECK_FALSE(std::is_sorted(answered.begin(), answered.end()));  // the answers really came out of order
  std::sort(answered.begin(), answered.end());
  CHECK(std::adjacent_find(answered.begin(), answered.end()) == answered.end());  // each exactly once
  CHECK(pool.in_flight() == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("calls made while a write is in progress wait together for one write") {
  constexpr size_t kBurst = 1000;
  TestLoop loop;
  ScriptedHandler handler;
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(server.port());

  size_t answers = 0;
  auto done = [&](Result<PeerResponse> result) {
    CHECK(result.ok());
    if (++answers < kBurst + 1) return;
    pool.Close();
    server.Shutdown();
  };
  // The connection comes up and the first call's frame starts to be
  // written; the burst is made right then, in the same turn of the loop.
  size_t buffered = 0;
  uint64_t bytes_sent = 0;
  events.on_reachable = [&](const std::string&) {
    for (size_t i = 0; i < kBurst; ++i) pool.Call(address, Syn("burst"), done);
    buffered = pool.buffered_bytes(address);
    bytes_sent = pool.stats().traffic.bytes_sent;
  };
  pool.Call(address, Syn("first"), done);
  loop.Run();

  // Nothing of the burst went out on its own: every frame is still in the
  // buffer that the next write takes whole.
  CHECK(bytes_sent > kBurst * 10);
  CHECK(buffered == bytes_sent);
  CHECK(answers == kBurst + 1);
  CHECK(server.stats().requests_received == kBurst + 1);
  CHECK(pool.buffered_bytes(address) == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a peer that is down fails calls fast, and once it listens the pool reconnects after the backoff") {
  TestLoop loop;
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const uint16_t port = FreePort();
  const std::string address = Local(port);

  Status first;
  pool.Call(address, Syn("a"), [&](Result<PeerResponse> result) { first = result.status(); });
  loop.Run();  // the connection is refused
  CHECK(first.code() == Code::kUnavailable);
  CHECK(Mentions(first, address));
  REQUIRE(events.unreachable.size() == 1);
  CHECK(events.unreachable[0].first == address);
  CHECK(events.unreachable[0].second.code() == Code::kUnavailable);

  // Within the backoff (100 ms), calls fail inside Call, with no new attempt.
  auto call_now = [&] {
    std::optional<Status> status;
    pool.Call(address, Syn("b"), [&](Result<PeerResponse> result) { status = result.status(); });
    return status;
  };
  std::optional<Status> fast = call_now();
  REQUIRE(fast.has_value());
  CHECK(fast->code() == Code::kUnavailable);
  CHECK(Mentions(*fast, "next attempt in 100 ms"));

  // The peer comes up, but the pool does not try before the backoff ends.
  ScriptedHandler handler;
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", port}).ok());
  clock.Advance(99);
  fast = call_now();
  REQUIRE(fast.has_value());
  CHECK(fast->code() == Code::kUnavailable);
  CHECK(pool.stats().connect_attempts == 1);
  CHECK(pool.stats().failed_fast == 2);

  clock.Advance(1);
  std::optional<Result<PeerResponse>> answer;
  pool.Call(address, Syn("c"), [&](Result<PeerResponse> result) {
    answer = std::move(result);
    pool.Close();
    server.Shutdown();
  });
  loop.Run();

  REQUIRE(answer.has_value());
  REQUIRE(answer->ok());
  CHECK(Tag(**answer) == "c");
  CHECK(events.reachable == std::vector<std::string>{address});
  CHECK(events.unreachable.size() == 1);
  CHECK(handler.seen.size() == 1);  // the calls that failed fast were never sent
  const PeerStats& stats = pool.stats();
  CHECK(stats.connect_attempts == 2);
  CHECK(stats.connect_failures == 1);
  CHECK(stats.connects == 1);
  CHECK(stats.reconnects == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("each failed attempt doubles the wait before the next one") {
  TestLoop loop;
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(FreePort());

  // Makes a call and runs the loop; true when it caused a connection attempt.
  auto attempt = [&] {
    const uint64_t before = pool.stats().connect_attempts;
    pool.Call(address, Syn("x"),
              [](Result<PeerResponse> result) { CHECK(result.status().code() == Code::kUnavailable); });
    loop.Run();
    return pool.stats().connect_attempts == before + 1;
  };
  CHECK(attempt());
  for (int64_t wait : {100, 200, 400, 800, 1600, 3200, 5000, 5000}) {
    CAPTURE(wait);
    clock.Advance(wait - 1);
    CHECK_FALSE(attempt());
    clock.Advance(1);
    CHECK(attempt());
  }
  CHECK(events.unreachable.size() == 9);
  CHECK(pool.stats().connect_failures == 9);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a connection made resets the backoff: after it is lost, the first wait is initial_ms again") {
  TestLoop loop;
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const uint16_t port = FreePort();
  const std::string address = Local(port);
  auto call = [&] {
    std::optional<Status> status;
    pool.Call(address, Syn("x"), [&](Result<PeerResponse> result) { status = result.status(); });
    loop.RunUntil([&] { return status.has_value(); });
    return status.value_or(Status::Internal("no answer"));
  };
  // Two failures: the wait has grown to 200 ms.
  CHECK(call().code() == Code::kUnavailable);
  clock.Advance(100);
  CHECK(call().code() == Code::kUnavailable);
  clock.Advance(200);
  {
    ScriptedHandler handler;
    PeerServer server(loop.get(), handler);
    REQUIRE(server.Listen({"127.0.0.1", port}).ok());
    CHECK(call().ok());
  }  // the server goes away
  // This call goes out on the old connection, and fails when it is lost.
  CHECK(call().code() == Code::kUnavailable);
  CHECK(pool.stats().connections_lost == 1);
  CHECK(pool.stats().connect_attempts == 3);
  // A lost connection is retried at once; refused, it waits 100 ms (not
  // the 400 ms a third failure in a row would cost).
  CHECK(call().code() == Code::kUnavailable);
  CHECK(pool.stats().connect_attempts == 4);
  clock.Advance(99);
  CHECK(call().code() == Code::kUnavailable);
  CHECK(pool.stats().connect_attempts == 4);
  clock.Advance(1);
  CHECK(call().code() == Code::kUnavailable);
  CHECK(pool.stats().connect_attempts == 5);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a server that goes away mid-flight fails the calls in flight, and the next call reconnects") {
  TestLoop loop;
  const uint16_t port = FreePort();
  const std::string address = Local(port);
  ScriptedHandler first_handler;
  ScriptedHandler second_handler;
  auto server = std::make_unique<PeerServer>(loop.get(), first_handler);
  REQUIRE(server->Listen({"127.0.0.1", port}).ok());
  std::vector<Reply> held;
  first_handler.on_request = [&](const PeerRequest&, Reply reply) {
    held.push_back(std::move(reply));
    if (held.size() < 3) return;
    // The server dies with three requests unanswered, and a new one takes
    // its port. Answers from the dead one go nowhere.
    server = std::make_unique<PeerServer>(loop.get(), second_handler);
    REQUIRE(server->Listen({"127.0.0.1", port}).ok());
    for (Reply& answer : held) answer(PeerResponse());
  };
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);

  std::vector<Status> failures;
  std::optional<Result<PeerResponse>> retried;
  for (int i = 0; i < 3; ++i) {
    pool.Call(address, Syn("doomed"), [&](Result<PeerResponse> result) {
      failures.push_back(result.status());
      if (failures.size() > 1) return;
      // From inside the failure: the lost connection is retried at once.
      pool.Call(address, Syn("again"), [&](Result<PeerResponse> again) {
        retried = std::move(again);
        pool.Close();
        server->Shutdown();
      });
    });
  }
  loop.Run();

  REQUIRE(failures.size() == 3);
  for (const Status& status : failures) {
    CHECK(status.code() == Code::kUnavailable);
    CHECK(Mentions(status, address));
  }
  REQUIRE(retried.has_value());
  REQUIRE(retried->ok());
  CHECK(Tag(**retried) == "again");
  REQUIRE(events.unreachable.size() == 1);
  CHECK(events.unreachable[0].second.code() == Code::kUnavailable);
  CHECK(events.reachable.size() == 2);
  const PeerStats& stats = pool.stats();
  CHECK(stats.connections_lost == 1);
  CHECK(stats.connects == 2);
  CHECK(stats.reconnects == 1);
  CHECK(stats.failed_fast == 0);
  server.reset();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a call's own timeout can be shorter than the pool's, and the connection stays up") {
  TestLoop loop;
  ScriptedHandler handler;
  Reply late;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    if (request.gossip_syn().cluster_name() == "slow") {
      late = std::move(reply);
      return;
    }
    reply(Echo(request));
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(server.port());

  Status slow;
  std::optional<Result<PeerResponse>> fast;
  pool.Call(
      address, Syn("slow"),
      [&](Result<PeerResponse> result) {
        slow = result.status();
        late(Echo(Syn("slow")));  // an answer after the timeout is dropped
        pool.Call(address, Syn("fast"), [&](Result<PeerResponse> answer) {
          fast = std::move(answer);
          pool.Close();
          server.Shutdown();
        });
      },
      /*timeout_ms=*/20);
  loop.Run();

  CHECK(slow.code() == Code::kTimeout);
  CHECK(slow.message() == "no answer from " + address + " within 20 ms");
  REQUIRE(fast.has_value());
  REQUIRE(fast->ok());
  CHECK(Tag(**fast) == "fast");
  CHECK(pool.stats().traffic.timeouts == 1);
  CHECK(pool.stats().connects == 1);  // one connection throughout
  CHECK(events.unreachable.empty());
  CHECK(loop.Close() == 0);
}

TEST_CASE("a connection on which 3 calls in a row time out is replaced, so a healed peer answers at once") {
  TestLoop loop;
  ScriptedHandler handler;
  bool silent = true;  // as a connection whose packets a partition dropped
  std::vector<Reply> unanswered;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    if (silent) return unanswered.push_back(std::move(reply));
    reply(Echo(request));
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(server.port());

  std::vector<Status> outcomes;
  std::function<void()> next = [&] {
    if (outcomes.size() == 3) silent = false;  // healed
    pool.Call(
        address, Syn("call"),
        [&](Result<PeerResponse> result) {
          outcomes.push_back(result.status());
          if (outcomes.size() < 4) return next();
          pool.Close();
          server.Shutdown();
        },
        /*timeout_ms=*/20);
  };
  next();
  loop.Run();

  REQUIRE(outcomes.size() == 4);
  for (int i = 0; i < 3; ++i) CHECK(outcomes[i].code() == Code::kTimeout);
  CHECK(outcomes[3].ok());
  CHECK(pool.stats().connections_reset == 1);
  CHECK(pool.stats().connects == 2);
  CHECK(events.unreachable.empty());  // slow is not dead: no evidence reported
  CHECK(loop.Close() == 0);
}

TEST_CASE("timeouts that are not in a row keep the connection") {
  TestLoop loop;
  ScriptedHandler handler;
  size_t seen = 0;
  std::vector<Reply> unanswered;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    if (++seen % 3 == 0) return reply(Echo(request));  // every third is answered
    unanswered.push_back(std::move(reply));
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);
  const std::string address = Local(server.port());
  int calls = 0;
  std::function<void()> next = [&] {
    pool.Call(
        address, Syn("call"),
        [&](Result<PeerResponse>) {
          if (++calls < 9) return next();
          pool.Close();
          server.Shutdown();
        },
        /*timeout_ms=*/20);
  };
  next();
  loop.Run();
  CHECK(pool.stats().traffic.timeouts == 6);
  CHECK(pool.stats().connections_reset == 0);
  CHECK(pool.stats().connects == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a request over the server's frame limit fails the calls in flight with TOO_LARGE") {
  TestLoop loop;
  ScriptedHandler handler;
  handler.on_request = [](const PeerRequest&, Reply) {};  // holds the small one
  PeerServer server(loop.get(), handler, {.max_frame_bytes = 1024});
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);
  const std::string address = Local(server.port());

  std::vector<Status> failures;
  auto done = [&](Result<PeerResponse> result) {
    failures.push_back(result.status());
    if (failures.size() < 2) return;
    pool.Close();
    server.Shutdown();
  };
  pool.Call(address, Syn("small"), done);
  pool.Call(address, Syn(std::string(4096, 'x')), done);
  loop.Run();

  REQUIRE(failures.size() == 2);
  for (const Status& status : failures) {
    CHECK(status.code() == Code::kTooLarge);
    CHECK(Mentions(status, "exceeds limit 1024"));
  }
  CHECK(server.stats().bad_frames == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("Forget from an unreachable report drops the backoff: the next call tries at once") {
  TestLoop loop;
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(FreePort());
  events.on_unreachable = [&](const std::string& peer, const Status&) { pool.Forget(peer); };

  for (int i = 0; i < 2; ++i) {
    Status status;
    pool.Call(address, Syn("x"), [&](Result<PeerResponse> result) { status = result.status(); });
    loop.Run();
    CHECK(status.code() == Code::kUnavailable);
  }
  CHECK(pool.stats().connect_attempts == 2);
  CHECK(pool.stats().failed_fast == 0);
  CHECK(events.unreachable.size() == 2);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a pool destroyed from a call's callback fails the other calls and leaves the loop closable") {
  TestLoop loop;
  ScriptedHandler handler;
  std::vector<Reply> held;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    held.push_back(std::move(reply));
    if (held.size() == 3) held[0](Echo(request));
  };
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  auto pool = std::make_unique<PeerPool>(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);
  std::vector<Code> codes;
  for (int i = 0; i < 3; ++i) {
    pool->Call(Local(server.port()), Syn("x"), [&](Result<PeerResponse> result) {
      codes.push_back(result.status().code());
      if (result.ok()) {
        pool.reset();
        server.Shutdown();
      }
    });
  }
  loop.Run();
  REQUIRE(held.size() == 3);
  held[1](PeerResponse());  // the connection is gone: dropped
  held[2](PeerResponse());

  CHECK(codes == std::vector<Code>{Code::kOk, Code::kUnavailable, Code::kUnavailable});
  CHECK(loop.Close() == 0);
}

TEST_CASE("an address that is not HOST:PORT fails the call at once") {
  TestLoop loop;
  ManualClock clock;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, nullptr);
  std::optional<Status> status;
  pool.Call("no-port-here", Syn("x"), [&](Result<PeerResponse> result) { status = result.status(); });
  REQUIRE(status.has_value());
  CHECK(status->code() == Code::kInvalidArgument);
  CHECK(Mentions(*status, "no-port-here"));
  CHECK(loop.Close() == 0);
}

// A listening socket whose accept queue is full: the kernel drops new SYNs,
// so a connect neither succeeds nor is refused.
class FullBacklog {
 public:
  // filled false: no connection fills the queue, so the first one made
  // succeeds (and is never accepted) and those after it get no answer.
  explicit FullBacklog(bool filled = true) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    REQUIRE(bind(listener_, reinterpret_cast<sockaddr*>(&address), length) == 0);
    REQUIRE(listen(listener_, 0) == 0);
    REQUIRE(getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
    if (!filled) return;
    filler_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(connect(filler_, reinterpret_cast<sockaddr*>(&address), length) == 0);
  }
  ~FullBacklog() {
    if (filler_ >= 0) close(filler_);
    close(listener_);
  }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  int filler_ = -1;
  uint16_t port_ = 0;
};

TEST_CASE("a connect that gets no answer times out and is reported unreachable") {
  TestLoop loop;
  FullBacklog silent;
  ManualClock clock;
  RecordingEvents events;
  PeerPoolOptions options = ExactBackoff();
  options.connect_timeout_ms = 50;
  PeerPool pool(loop.get(), options, clock, HalfDraw, &events);
  const std::string address = Local(silent.port());

  Status status;
  pool.Call(address, Syn("x"), [&](Result<PeerResponse> result) { status = result.status(); });
  loop.Run();

  CHECK(status.code() == Code::kUnavailable);
  CHECK(status.message() == "cannot connect to " + address + ": no answer within 50 ms");
  REQUIRE(events.unreachable.size() == 1);
  CHECK(events.unreachable[0].second.message() == status.message());
  CHECK(pool.stats().connect_failures == 1);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a probe is not held by the backoff: it tries at once, while a normal call still fails fast") {
  TestLoop loop;
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), ExactBackoff(), clock, HalfDraw, &events);
  const std::string address = Local(FreePort());
  auto call = [&](CallMode mode) {
    std::optional<Status> status;
    pool.Call(
        address, Syn("x"), [&](Result<PeerResponse> result) { status = result.status(); }, 0, mode);
    loop.Run();
    REQUIRE(status.has_value());
    return *status;
  };
  CHECK(call(CallMode::kNormal).code() == Code::kUnavailable);  // refused: the backoff starts
  CHECK(Mentions(call(CallMode::kNormal), "next attempt in 100 ms"));
  CHECK(pool.stats().connect_attempts == 1);
  CHECK(call(CallMode::kProbe).code() == Code::kUnavailable);
  CHECK(pool.stats().connect_attempts == 2);
  CHECK(pool.stats().failed_fast == 1);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

// Calls `address` in `mode`, collecting each failure in `failed`.
auto Caller(PeerPool& pool, const std::string& address, std::vector<Status>& failed) {
  return [&pool, address, &failed](CallMode mode, uint32_t timeout_ms = 0) {
    pool.Call(
        address, Syn("x"), [&failed](Result<PeerResponse> result) { failed.push_back(result.status()); },
        timeout_ms, mode);
  };
}

TEST_CASE("a probe replaces a connect unanswered for stale_connect_ms; a normal call waits for it") {
  TestLoop loop;
  ManualClock clock;
  PeerPoolOptions options = ExactBackoff();
  options.connect_timeout_ms = 60'000;
  options.stale_connect_ms = 100;
  options.max_timeouts_in_a_row = 1;
  PeerPool pool(loop.get(), options, clock, HalfDraw, nullptr);
  FullBacklog listener(/*filled=*/false);  // the first connection fills its queue
  std::vector<Status> failed;
  auto call = Caller(pool, Local(listener.port()), failed);

  // The first connect succeeds (in no time on the manual clock); its call
  // times out, which here is enough to close the connection.
  call(CallMode::kNormal, 10);
  loop.RunUntil([&] { return !failed.empty(); });
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].code() == Code::kTimeout);
  CHECK(pool.stats().connects == 1);
  CHECK(pool.stats().connections_reset == 1);

  // From now on every connect goes unanswered.
  call(CallMode::kNormal);
  clock.Advance(99);
  call(CallMode::kNormal);
  call(CallMode::kProbe);
  CHECK(pool.stats().stale_connects_replaced == 0);
  CHECK(failed.size() == 1);
  clock.Advance(1);
  call(CallMode::kProbe);
  CHECK(pool.stats().stale_connects_replaced == 1);
  CHECK(pool.stats().connect_attempts == 3);
  REQUIRE(failed.size() == 4);  // the calls that waited on the connect given up
  for (size_t i = 1; i < failed.size(); ++i) CHECK(failed[i].code() == Code::kUnavailable);
  pool.Close();
  loop.Run();
  CHECK(failed.size() == 5);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a connect to a peer never reached gets a second before a probe gives it up") {
  TestLoop loop;
  ManualClock clock;
  PeerPoolOptions options = ExactBackoff();
  options.connect_timeout_ms = 60'000;
  options.stale_connect_ms = 100;
  PeerPool pool(loop.get(), options, clock, HalfDraw, nullptr);
  FullBacklog silent;
  std::vector<Status> failed;
  auto call = Caller(pool, Local(silent.port()), failed);

  call(CallMode::kNormal);
  clock.Advance(999);
  call(CallMode::kProbe);
  CHECK(pool.stats().stale_connects_replaced == 0);
  clock.Advance(1);
  call(CallMode::kProbe);
  CHECK(pool.stats().stale_connects_replaced == 1);
  CHECK(failed.size() == 2);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

}  // namespace
}  // namespace dynkv::net
