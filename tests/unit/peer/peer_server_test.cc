// PeerServer: bad input, shutdown and connection limits, seen from a raw
// connection and from PeerPools in the same loop. Every test ends with
// uv_loop_close() == 0.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/peer_transport.h"
#include "peer_test_util.h"

namespace dynkv::net {
namespace {

using peer::PeerRequest;
using peer::PeerResponse;
using Reply = PeerRequestHandler::Reply;

double HalfDraw() { return 0.5; }

// A 4-byte big-endian length, then the payload.
std::string Framed(uint32_t announced, std::string_view payload) {
  std::string out = {static_cast<char>(announced >> 24), static_cast<char>(announced >> 16),
                     static_cast<char>(announced >> 8), static_cast<char>(announced)};
  out.append(payload);
  return out;
}

// A connection that sends raw bytes and records what comes back.
struct RawPeer : ConnectionHandler {
  std::vector<PeerResponse> responses;
  size_t unparsed = 0;
  std::optional<Status> closed;
  std::function<void()> on_close;
  std::unique_ptr<Connection> connection;

  void Open(uv_loop_t* loop, uint16_t port, std::string bytes) {
    Connection::ConnectTo(loop, {"127.0.0.1", port}, 1 << 20, this,
                          [this, bytes](Status status, std::unique_ptr<Connection> connected) {
                            REQUIRE(status.ok());
                            connection = std::move(connected);
                            connection->StartReading();
                            connection->SendRaw(bytes);
                          });
  }
  void OnFrame(Connection&, std::string_view payload) override {
    PeerResponse response;
    if (!response.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) ++unparsed;
    responses.push_back(response);
  }
  void OnClose(Connection&, const Status& why) override {
    closed = why;
    connection.reset();
    if (on_close) on_close();
  }
};

struct BadInput {
  const char* name;
  std::string bytes;
  peer::PeerErrorCode code;
  const char* message;
};

TEST_CASE("bad input gets an error frame with id 0 and its connection closes; other peers are served on") {
  const BadInput cases[] = {
      {"bytes that do not parse", Framed(5, "\xff\xff\xff\xff\xff"), peer::PEER_INVALID_ARGUMENT,
       "a frame of 5 bytes does not parse as a request; closing the connection"},
      {"a frame over the limit", Framed(1 << 20, "xyz"), peer::PEER_TOO_LARGE,
       "frame of 1048576 bytes exceeds limit 1024"},
  };
  for (const BadInput& input : cases) {
    CAPTURE(input.name);
    TestLoop loop;
    ScriptedHandler handler;
    PeerServer server(loop.get(), handler, {.max_frame_bytes = 1024});
    REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
    ManualClock clock;
    PeerPool pool(loop.get(), {}, clock, HalfDraw, nullptr);
    const std::string address = Local(server.port());

    std::vector<std::string> answered;
    auto record = [&](Result<PeerResponse> result) {
      answered.push_back(result.ok() ? Tag(*result) : "error");
    };
    RawPeer raw;
    // The pool's connection is up before the bad bytes come, and is used
    // again after their connection has closed.
    pool.Call(address, Syn("before"), [&](Result<PeerResponse> result) {
      record(std::move(result));
      raw.Open(loop.get(), server.port(), input.bytes);
    });
    raw.on_close = [&] {
      pool.Call(address, Syn("after"), [&](Result<PeerResponse> result) {
        record(std::move(result));
        pool.Close();
        server.Shutdown();
      });
    };
    loop.Run();

    REQUIRE(raw.responses.size() == 1);
    CHECK(raw.unparsed == 0);
    CHECK(raw.responses[0].id() == 0);
    CHECK(raw.responses[0].error().code() == input.code);
    CHECK(raw.responses[0].error().message() == input.message);
    REQUIRE(raw.closed.has_value());
    CHECK(raw.closed->code() == Code::kUnavailable);  // closed by the server
    CHECK(answered == std::vector<std::string>{"before", "after"});
    CHECK(pool.stats().connects == 1);  // the pool's connection was never disturbed
    CHECK(server.stats().bad_frames == 1);
    CHECK(server.stats().connections_accepted == 2);
    CHECK(handler.seen.size() == 2);
    CHECK(loop.Close() == 0);
  }
}

TEST_CASE("Shutdown answers what is in progress, refuses what comes after, then closes") {
  TestLoop loop;
  ScriptedHandler handler;
  PeerServer server(loop.get(), handler);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  RecordingEvents events;
  PeerPool pool(loop.get(), {}, clock, HalfDraw, &events);
  const std::string address = Local(server.port());

  std::optional<Result<PeerResponse>> in_progress;
  std::optional<Result<PeerResponse>> refused;
  Reply held;
  handler.on_request = [&](const PeerRequest& request, Reply reply) {
    held = std::move(reply);
    server.Shutdown();
    server.Shutdown();  // twice is harmless
    // Arrives while the server drains.
    pool.Call(address, Syn("late"), [&, early = request](Result<PeerResponse> result) {
      refused = std::move(result);
      held(Echo(early));
    });
  };
  pool.Call(address, Syn("early"), [&](Result<PeerResponse> result) { in_progress = std::move(result); });
  loop.Run();  // ends once the connection has closed: nothing is left open

  REQUIRE(in_progress.has_value());
  REQUIRE(in_progress->ok());
  CHECK(Tag(**in_progress) == "early");
  REQUIRE(refused.has_value());
  CHECK(refused->status().code() == Code::kUnavailable);
  CHECK(refused->status().message() == "the server is shutting down");
  CHECK(handler.seen.size() == 1);
  CHECK(server.connections() == 0);
  REQUIRE(events.unreachable.size() == 1);  // the close after the answers
  CHECK(events.unreachable[0].second.code() == Code::kUnavailable);

  // Nothing listens any more.
  clock.Advance(60'000);
  Status after;
  pool.Call(address, Syn("x"), [&](Result<PeerResponse> result) { after = result.status(); });
  loop.Run();
  CHECK(after.code() == Code::kUnavailable);
  CHECK(after.message().find("connection refused") != std::string::npos);
  pool.Close();
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a connection over max_connections is refused with OVERLOADED") {
  TestLoop loop;
  ScriptedHandler handler;
  PeerServer server(loop.get(), handler, {.max_connections = 1});
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());
  ManualClock clock;
  PeerPool first(loop.get(), {}, clock, HalfDraw, nullptr);
  PeerPool second(loop.get(), {}, clock, HalfDraw, nullptr);
  const std::string address = Local(server.port());

  Status refused;
  first.Call(address, Syn("one"), [&](Result<PeerResponse> result) {
    REQUIRE(result.ok());
    second.Call(address, Syn("two"), [&](Result<PeerResponse> result2) {
      refused = result2.status();
      first.Close();
      second.Close();
      server.Shutdown();
    });
  });
  loop.Run();

  CHECK(refused.code() == Code::kOverloaded);
  CHECK(server.stats().connections_refused == 1);
  CHECK(handler.seen.size() == 1);
  CHECK(loop.Close() == 0);
}

// GuardConnections on the peer port, timed by the server's clock: a frame
// left half sent closes its connection after frame_timeout (slowloris); a
// peer that sent whole frames and then stays quiet is left alone.
TEST_CASE("a peer that leaves half a frame is closed after frame_timeout; a quiet peer is not") {
  TestLoop loop;
  ScriptedHandler handler;
  auto server_owner = std::make_unique<PeerServer>(loop.get(), handler);
  PeerServer& server = *server_owner;
  ManualClock clock;
  ConnectionLimits limits;
  limits.frame_timeout_ms = 1'000;
  limits.idle_timeout_ms = 0;
  server.GuardConnections(limits, clock);
  REQUIRE(server.Listen({"127.0.0.1", 0}).ok());

  RawPeer slow;
  slow.Open(loop.get(), server.port(), Framed(100, "abc"));
  const std::string syn = Syn("quiet").SerializeAsString();
  RawPeer quiet;
  quiet.Open(loop.get(), server.port(), Framed(static_cast<uint32_t>(syn.size()), syn));

  // The sweep looks every 100 ms of real time; the clock moves faster.
  uv_timer_t ticker;
  uv_timer_init(loop.get(), &ticker);
  ticker.data = &clock;
  uv_timer_start(
      &ticker, [](uv_timer_t* t) { static_cast<ManualClock*>(t->data)->Advance(250); }, 20, 20);
  const int64_t start = clock.MonotonicMs();
  loop.RunUntil([&] { return slow.closed.has_value() || clock.MonotonicMs() - start > 60'000; });
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);

  REQUIRE(slow.closed.has_value());
  CHECK(slow.closed->code() == Code::kUnavailable);  // closed by the server
  CHECK(clock.MonotonicMs() - start >= 1'000);
  CHECK_FALSE(quiet.closed.has_value());
  REQUIRE(quiet.responses.size() == 1);
  CHECK(Tag(quiet.responses[0]) == "quiet");
  CHECK(server.stats().guard.closed_partial_frame == 1);
  CHECK(server.stats().guard.closed_idle == 0);

  quiet.connection->Close();
  server.Shutdown();
  loop.Run();
  server_owner.reset();  // its sweep timer closes with it
  loop.Run();
  CHECK(loop.Close() == 0);
}

TEST_CASE("a Status crosses the wire as a PeerError and comes back with its code") {
  const Status statuses[] = {
      Status::InvalidArgument("a"), Status::TooLarge("b"),     Status::Unavailable("c"), Status::Timeout("d"),
      Status::Overloaded("e"),      Status::StorageError("f"), Status::Internal("g"),
  };
  for (const Status& status : statuses) {
    CAPTURE(status.ToString());
    Status back = StatusFromPeerError(PeerErrorFromStatus(status));
    CHECK(back.code() == status.code());
    CHECK(back.message() == status.message());
  }
  // Codes with no wire code keep their name in the message.
  Status corruption = StatusFromPeerError(PeerErrorFromStatus(Status::Corruption("bad bytes")));
  CHECK(corruption.code() == Code::kInternal);
  CHECK(corruption.message().find("bad bytes") != std::string::npos);
  CHECK(corruption.message() != "bad bytes");

  peer::PeerError wrong_cluster;
  wrong_cluster.set_code(peer::PEER_WRONG_CLUSTER);
  wrong_cluster.set_message("cluster 'b', not 'a'");
  CHECK(StatusFromPeerError(wrong_cluster).code() == Code::kInvalidArgument);
  peer::PeerError unknown;
  unknown.set_code(static_cast<peer::PeerErrorCode>(99));
  CHECK(StatusFromPeerError(unknown).code() == Code::kInternal);
}

}  // namespace
}  // namespace dynkv::net
