// TLS on net::Connection over 127.0.0.1: certificates made by
// tools/tls-certs.sh (the openssl command) for two CAs.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/net.h"
#include "net/tls.h"
#include "test_frames.h"
#include "test_loop.h"

namespace dynkv::net {
namespace {

// Two CAs in a temporary directory: "cluster" signs node "a" (127.0.0.1)
// and node "elsewhere" (127.0.0.2 only); "other" signs "stranger"
// (127.0.0.1).
class Certificates {
 public:
  static const Certificates& Get() {
    static const Certificates certificates;
    return certificates;
  }
  ~Certificates() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  std::string Path(const std::string& ca, const std::string& file) const { return dir_ + "/" + ca + "/" + file; }
  TlsFiles Node(const std::string& ca, const std::string& name) const {
    return {Path(ca, name + ".crt"), Path(ca, name + ".key"), Path(ca, "ca.crt")};
  }

 private:
  Certificates() {
    const char* base = std::getenv("DYNKV_TEST_TMP");
    const std::filesystem::path root = base != nullptr && *base != '\0' ? base : "/tmp";
    std::filesystem::create_directories(root);
    std::string name = (root / "tls-XXXXXX").string();
    REQUIRE(mkdtemp(name.data()) != nullptr);
    dir_ = name;
    const char* source = std::getenv("DYNKV_SOURCE_ROOT");
    const std::string script = std::string(source != nullptr ? source : ".") + "/tools/tls-certs.sh";
    for (const std::string args : {"cluster ca", "cluster node a 127.0.0.1", "cluster node elsewhere 127.0.0.2",
                                    "other ca", "other node stranger 127.0.0.1"}) {
      const std::string ca = args.substr(0, args.find(' '));
      const std::string command =
          "bash " + script + " " + dir_ + "/" + ca + args.substr(ca.size()) + " >/dev/null";
      REQUIRE_MESSAGE(std::system(command.c_str()) == 0, command);
    }
  }
  std::string dir_;
};

std::shared_ptr<const TlsContext> Context(TlsContext::Mode mode, const TlsFiles& files) {
  auto context = TlsContext::Create(mode, files);
  REQUIRE_MESSAGE(context.ok(), context.status().ToString());
  return std::move(*context);
}

// A client context trusting `trusted_ca`, presenting the certificate of
// node `name` of `ca` when one is named.
std::shared_ptr<const TlsContext> Client(const std::string& trusted_ca, const std::string& ca = "",
                                         const std::string& name = "") {
  const Certificates& certs = Certificates::Get();
  TlsFiles files;
  if (!name.empty()) files = certs.Node(ca, name);
  files.ca_file = certs.Path(trusted_ca, "ca.crt");
  return Context(TlsContext::Mode::kClient, files);
}

struct Handler : ConnectionHandler {
  std::function<void(Connection&, std::string_view)> on_frame;
  std::function<void(Connection&)> on_plaintext;
  std::function<void(Connection&, const Status&)> on_close;
  std::vector<std::string> frames;
  std::vector<Status> closes;

  void OnFrame(Connection& connection, std::string_view payload) override {
    frames.emplace_back(payload);
    if (on_frame) on_frame(connection, payload);
  }
  // As a node's port does: an error frame, then the connection closes.
  void OnFrameTooLarge(Connection& connection, const Status&) override { connection.SendRaw(Framed("too large")); }
  void OnPlaintextRefused(Connection& connection) override {
    if (on_plaintext) on_plaintext(connection);
  }
  void OnClose(Connection& connection, const Status& why) override {
    closes.push_back(why);
    if (on_close) on_close(connection, why);
  }
};

// Accepts connections on 127.0.0.1 with `context` (null: plaintext); the
// listener closes with the first connection that closes.
struct Server {
  Server(uv_loop_t* loop, std::shared_ptr<const TlsContext> context, Handler* handler) {
    auto listening = Listener::Listen(loop, {"127.0.0.1", 0}, [this, context, handler](uv_tcp_t* accepted) {
      connections.push_back(Connection::Adopt(accepted, 4 << 20, handler, Framing::kLengthPrefixed, context));
      connections.back()->StartReading();
    });
    REQUIRE(listening.ok());
    listener = std::move(*listening);
    handler->on_close = [this](Connection& closed, const Status&) {
      std::erase_if(connections, [&](const auto& c) { return c.get() == &closed; });
      listener->Close();
    };
  }
  HostPort address() const { return {"127.0.0.1", listener->port()}; }

  std::unique_ptr<Listener> listener;
  std::vector<std::unique_ptr<Connection>> connections;
};

// Connects with `context`, sends `frames`, and closes once `replies` frames
// came back or the connection closed. Returns the client's handler.
struct Outcome {
  std::vector<std::string> frames;
  std::vector<Status> closes;
};

Outcome Exchange(TestLoop& loop, const HostPort& address, std::shared_ptr<const TlsContext> context,
                 const std::vector<std::string>& frames, size_t replies) {
  Handler handler;
  std::unique_ptr<Connection> client;
  handler.on_frame = [&](Connection& connection, std::string_view) {
    if (handler.frames.size() == replies) connection.Close();
  };
  handler.on_close = [&](Connection&, const Status&) { client.reset(); };
  Connection::ConnectTo(
      loop.get(), address, 4 << 20, &handler,
      [&](Status status, std::unique_ptr<Connection> connection) {
        REQUIRE(status.ok());
        client = std::move(connection);
        client->StartReading();
        for (const std::string& frame : frames) client->SendRaw(Framed(frame));
      },
      std::move(context));
  loop.Run();
  return {handler.frames, handler.closes};
}

void Echo(Connection& connection, std::string_view payload) { connection.SendRaw(Framed(payload)); }

TEST_CASE("frames of every size round trip over TLS; the server counts one handshake") {
  TestLoop loop;
  Handler server_handler;
  server_handler.on_frame = Echo;
  auto server_context = Context(TlsContext::Mode::kServer, Certificates::Get().Node("cluster", "a"));
  Server server(loop.get(), server_context, &server_handler);

  std::vector<std::string> sent;
  for (int i = 0; i < 300; ++i) sent.push_back("message " + std::to_string(i));
  sent.push_back("");
  sent.push_back(std::string(1 << 20, 'x'));  // many TLS records
  Outcome outcome = Exchange(loop, server.address(), Client("cluster"), sent, sent.size());
  CHECK(outcome.frames == sent);
  CHECK(server_handler.frames == sent);
  CHECK(server_context->stats().handshakes.load() == 1);
  CHECK(server_context->stats().handshake_failures.load() == 0);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a mutual-TLS port admits only a certificate its CA signed") {
  struct Case {
    const char* what;
    std::shared_ptr<const TlsContext> client;
    bool admitted;
  };
  const std::vector<Case> cases = {
      {"no certificate", Client("cluster"), false},
      {"a certificate of another CA", Client("cluster", "other", "stranger"), false},
      {"a certificate of the cluster CA", Client("cluster", "cluster", "a"), true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    TestLoop loop;
    Handler server_handler;
    server_handler.on_frame = Echo;
    auto server_context = Context(TlsContext::Mode::kServerMutual, Certificates::Get().Node("cluster", "a"));
    Server server(loop.get(), server_context, &server_handler);
    Outcome outcome = Exchange(loop, server.address(), c.client, {"write this"}, 1);
    if (c.admitted) {
      CHECK(server_handler.frames == std::vector<std::string>{"write this"});
      CHECK(outcome.frames == std::vector<std::string>{"write this"});
    } else {
      CHECK(server_handler.frames.empty());  // nothing it sent reached the handler
      CHECK(outcome.frames.empty());
      REQUIRE(server_handler.closes.size() == 1);
      CHECK(server_handler.closes[0].code() == Code::kUnauthenticated);
      CHECK(server_context->stats().handshake_failures.load() == 1);
    }
    CHECK(loop.Close() == 0);
  }
}

TEST_CASE("a client refuses a server whose certificate is of another CA or names another address") {
  for (const auto& [ca, name, reason] : {std::tuple{"other", "stranger", "certificate verify failed"},
                                         std::tuple{"cluster", "elsewhere", "mismatch"}}) {
    CAPTURE(name);
    TestLoop loop;
    Handler server_handler;
    server_handler.on_frame = Echo;
    Server server(loop.get(), Context(TlsContext::Mode::kServer, Certificates::Get().Node(ca, name)),
                  &server_handler);
    Outcome outcome = Exchange(loop, server.address(), Client("cluster"), {"secret"}, 1);
    CHECK(server_handler.frames.empty());  // the request never left in a form the server could read
    REQUIRE(outcome.closes.size() == 1);
    CHECK(outcome.closes[0].code() == Code::kUnauthenticated);
    CHECK(outcome.closes[0].message().find(reason) != std::string::npos);
    CHECK(loop.Close() == 0);
  }
}

TEST_CASE("a plaintext client on a TLS port reads the handler's refusal, then the connection closes") {
  TestLoop loop;
  Handler server_handler;
  server_handler.on_frame = Echo;
  server_handler.on_plaintext = [](Connection& connection) { connection.SendRaw(Framed("this port requires TLS")); };
  auto server_context = Context(TlsContext::Mode::kServer, Certificates::Get().Node("cluster", "a"));
  Server server(loop.get(), server_context, &server_handler);
  Outcome outcome = Exchange(loop, server.address(), nullptr, {"hello"}, 2);
  CHECK(outcome.frames == std::vector<std::string>{"this port requires TLS"});
  CHECK(server_handler.frames.empty());
  REQUIRE(server_handler.closes.size() == 1);
  CHECK(server_handler.closes[0].code() == Code::kUnauthenticated);
  CHECK(server_context->stats().plaintext_refused.load() == 1);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a TLS client of a plaintext server fails with a hint, and the server reads no request") {
  TestLoop loop;
  Handler server_handler;
  Server server(loop.get(), nullptr, &server_handler);
  server_handler.on_frame = Echo;
  Outcome outcome = Exchange(loop, server.address(), Client("cluster"), {"secret"}, 1);
  CHECK(outcome.frames.empty());
  REQUIRE(outcome.closes.size() == 1);
  CHECK(outcome.closes[0].code() == Code::kUnauthenticated);
  CHECK(outcome.closes[0].message().find("plaintext") != std::string::npos);
  CHECK(loop.Close() == 0);
}

TEST_CASE("a context names the file it cannot use") {
  const Certificates& certs = Certificates::Get();
  TlsFiles missing = certs.Node("cluster", "a");
  missing.ca_file = certs.Path("cluster", "nope.crt");
  auto no_ca = TlsContext::Create(TlsContext::Mode::kServerMutual, missing);
  REQUIRE_FALSE(no_ca.ok());
  CHECK(no_ca.status().code() == Code::kInvalidArgument);
  CHECK(no_ca.status().message() == "CA file " + missing.ca_file + ": No such file or directory");

  TlsFiles mismatched = certs.Node("cluster", "a");
  mismatched.key_file = certs.Path("cluster", "elsewhere.key");
  auto wrong_key = TlsContext::Create(TlsContext::Mode::kServer, mismatched);
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.status().message().find("does not match the certificate") != std::string::npos);

  TlsFiles not_pem = certs.Node("cluster", "a");
  not_pem.cert_file = certs.Path("cluster", "a.key");
  auto key_as_cert = TlsContext::Create(TlsContext::Mode::kServer, not_pem);
  REQUIRE_FALSE(key_as_cert.ok());
  CHECK(key_as_cert.status().message().find("not a PEM certificate") != std::string::npos);
}

}  // namespace
}  // namespace dynkv::net
