// Outgoing connections leave from the source address they are given
// (HostPort::source_host, PeerPoolOptions::source_host), so the node at the
// other end and packet filters can tell nodes on one host apart. Linux
// routes all of 127.0.0.0/8 to lo, so 127.0.0.2 works without setup.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "net/net.h"
#include "net/peer_transport.h"
#include "test_loop.h"

namespace dynkv::net {
namespace {

struct Ignore : ConnectionHandler {
  void OnFrame(Connection&, std::string_view) override {}
  void OnClose(Connection&, const Status&) override {}
};

// Listens on 127.0.0.1 and notes where the first connection comes from;
// then closes it and stops listening, so the loop can end.
struct Witness {
  explicit Witness(uv_loop_t* loop) {
    auto listening = Listener::Listen(loop, {"127.0.0.1", 0}, [this](uv_tcp_t* accepted) {
      std::unique_ptr<Connection> connection = Connection::Adopt(accepted, 1024, &ignore);
      peer = connection->peer_address();
      connection.reset();
      listener->Close();
    });
    REQUIRE(listening.ok());
    listener = std::move(*listening);
  }
  HostPort address(std::string source_host) const { return {"127.0.0.1", listener->port(), source_host}; }

  Ignore ignore;
  std::unique_ptr<Listener> listener;
  std::string peer;  // "host:port" of the accepted connection's other end
};

double HalfDraw() { return 0.5; }  // backoff jitter; no backoff happens here

std::string HostOf(const std::string& host_port) { return host_port.substr(0, host_port.rfind(':')); }

// Connects from `source_host`; returns the connect's Status and, in
// *seen_from, the host the listener saw (empty if none was accepted).
Status ConnectFrom(const std::string& source_host, std::string* seen_from) {
  TestLoop loop;
  Witness witness(loop.get());
  Ignore handler;
  Status connected = Status::Internal("done not called");
  Connection::ConnectTo(loop.get(), witness.address(source_host), 1024, &handler,
                        [&](Status status, std::unique_ptr<Connection>) {
                          connected = status;
                          if (!status.ok()) witness.listener->Close();
                        });
  loop.Run();
  *seen_from = witness.peer.empty() ? "" : HostOf(witness.peer);
  CHECK(loop.Close() == 0);
  return connected;
}

TEST_CASE("a connection with a source address leaves from it") {
  std::string seen_from;
  REQUIRE(ConnectFrom("127.0.0.2", &seen_from).ok());
  CHECK(seen_from == "127.0.0.2");
}

TEST_CASE("no source, a wildcard, a name or another family leave the choice to the kernel") {
  for (const std::string source : {"", "0.0.0.0", "::", "localhost", "::1"}) {
    CAPTURE(source);
    std::string seen_from;
    REQUIRE(ConnectFrom(source, &seen_from).ok());
    CHECK(seen_from == "127.0.0.1");
  }
}

TEST_CASE("a source address this host does not have fails the connect, naming it") {
  std::string seen_from;
  Status connected = ConnectFrom("192.0.2.1", &seen_from);  // TEST-NET-1 (RFC 5737)
  CHECK(connected.code() == Code::kUnavailable);
  CHECK(connected.message().find("cannot bind to source address 192.0.2.1") != std::string::npos);
  CHECK(seen_from.empty());
}

TEST_CASE("the peer pool connects from its source_host") {
  TestLoop loop;
  Witness witness(loop.get());
  ManualClock clock;
  PeerPoolOptions options;
  options.local_node_id = "node-a";
  options.source_host = "127.0.0.2";
  PeerPool pool(loop.get(), options, clock, HalfDraw, nullptr);

  std::optional<Status> answer;
  pool.Call(witness.address("").ToString(), peer::PeerRequest(), [&](Result<peer::PeerResponse> result) {
    answer = result.status();
    pool.Close();
  });
  loop.Run();

  REQUIRE(answer.has_value());
  CHECK(answer->code() == Code::kUnavailable);  // the witness hung up without answering
  CHECK(HostOf(witness.peer) == "127.0.0.2");
  CHECK(loop.Close() == 0);
}

}  // namespace
}  // namespace dynkv::net
