// Client tokens and roles: the tokens file, the role each request needs,
// and the ClientService's checks on a connection (api/auth.h).
#include "api/auth.h"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "service_fixture.h"

namespace dynkv::api {
namespace {

namespace pb = dynkv::client;

constexpr std::string_view kReadToken = "read-token-0123456789";
constexpr std::string_view kWriteToken = "write-token-0123456789";
constexpr std::string_view kAdminToken = "admin-token-0123456789";

std::string TokensText() {
  return "# clients of the test\n"
         "\n" +
         std::string(kReadToken) + " read\n" + std::string(kWriteToken) + "\twrite\r\n   " +
         std::string(kAdminToken) + "  admin  \n";
}

TokenTable Parsed(std::string_view text) {
  Result<TokenTable> table = TokenTable::Parse(text, "tokens.txt");
  REQUIRE_MESSAGE(table.ok(), table.status().ToString());
  return std::move(*table);
}

// The message of a tokens file that must be refused; it may name the file
// and line but never the token (nor anything else from the line).
std::string Refused(std::string_view text, std::string_view secret) {
  Result<TokenTable> table = TokenTable::Parse(text, "tokens.txt");
  INFO(text);
  REQUIRE_FALSE(table.ok());
  CHECK(table.status().code() == Code::kInvalidArgument);
  const std::string message = table.status().message();
  CHECK_MESSAGE(message.find(secret) == std::string::npos, message);
  return message;
}

TEST_CASE("a tokens file gives each token its role; comments, blank lines, tabs and CRLF are fine") {
  const TokenTable table = Parsed(TokensText());
  CHECK(table.size() == 3);
  CHECK(table.Find(kReadToken) == Role::kRead);
  CHECK(table.Find(kWriteToken) == Role::kWrite);
  CHECK(table.Find(kAdminToken) == Role::kAdmin);
}

TEST_CASE("only a whole token matches: no prefix, extension, case change or empty token") {
  const TokenTable table = Parsed(TokensText());
  const std::string admin(kAdminToken);
  CHECK(table.Find(admin.substr(0, admin.size() - 1)) == Role::kNone);
  CHECK(table.Find(admin + "x") == Role::kNone);
  CHECK(table.Find("ADMIN-TOKEN-0123456789") == Role::kNone);
  CHECK(table.Find("admin-token-0123456780") == Role::kNone);  // the last byte differs
  CHECK(table.Find("") == Role::kNone);
  CHECK(table.Find(admin + " admin") == Role::kNone);
}

TEST_CASE("a bad tokens file is refused at its line, without quoting the token") {
  const std::string secret = "s3cret-token-abcdefgh";
  CHECK(Refused("# c\n" + secret + "\n", secret) == "tokens.txt:2: expected 'TOKEN ROLE' (two fields), found 1 field");
  CHECK(Refused(secret + " read extra\n", secret) ==
        "tokens.txt:1: expected 'TOKEN ROLE' (two fields), found 3 fields");
  // Swapped fields put the token where the role goes: still not quoted.
  CHECK(Refused("read " + secret + "\n", secret) == "tokens.txt:1: the role (second field) is not read, write or admin");
  CHECK(Refused(secret + " Read\n", secret).starts_with("tokens.txt:1: the role"));
  CHECK(Refused("short-token read\n", "short-token").starts_with("tokens.txt:1: the token is not 16 or more printable"));
  CHECK(Refused("tok\x01" "en-0123456789abc read\n", "0123456789abc").starts_with("tokens.txt:1: the token is not"));
  CHECK(Refused(secret + " read\n\n" + secret + " admin\n", secret) ==
        "tokens.txt:3: the same token as line 1; expected each token once");
  CHECK(Refused("# only comments\n\n", secret) ==
        "tokens.txt: holds no token; expected 'TOKEN ROLE' lines (ROLE is read, write or admin)");
}

TEST_CASE("each request needs its role: reads read, key writes write, cluster changes admin") {
  auto needs = [](auto fill) {
    pb::Request request;
    fill(request);
    return RequiredRole(request);
  };
  CHECK(needs([](pb::Request& r) { r.mutable_ping(); }) == Role::kNone);
  CHECK(needs([](pb::Request& r) { r.mutable_auth(); }) == Role::kNone);
  CHECK(needs([](pb::Request& r) { r.mutable_get(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_batch_get(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_members(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_ring(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_stats(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_transfers(); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_repair()->set_start(false); }) == Role::kRead);
  CHECK(needs([](pb::Request& r) { r.mutable_put(); }) == Role::kWrite);
  CHECK(needs([](pb::Request& r) { r.mutable_delete_(); }) == Role::kWrite);
  CHECK(needs([](pb::Request& r) { r.mutable_batch_put(); }) == Role::kWrite);
  CHECK(needs([](pb::Request& r) { r.mutable_repair()->set_start(true); }) == Role::kAdmin);
  CHECK(needs([](pb::Request& r) { r.mutable_leave(); }) == Role::kAdmin);
  CHECK(needs([](pb::Request& r) { r.mutable_remove_node(); }) == Role::kAdmin);
  CHECK(needs([](pb::Request&) {}) == Role::kAdmin);  // nothing it knows: the strictest
}

// ---- Files and reloading ---------------------------------------------------------

class TokensFile {
 public:
  TokensFile() {
    const char* base = std::getenv("DYNKV_TEST_TMP");
    std::filesystem::path parent = base != nullptr && *base != '\0' ? base : "/tmp";
    std::filesystem::create_directories(parent);
    std::string pattern = (parent / "auth_test.XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    path_ = (dir_ / "tokens.txt").string();
  }
  ~TokensFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  void Write(const std::string& text) const { std::ofstream(path_) << text; }
  const std::string& path() const { return path_; }

 private:
  std::filesystem::path dir_;
  std::string path_;
};

TEST_CASE("Reload takes a good file whole and keeps the old tokens on a bad one") {
  TokensFile file;
  file.Write(std::string(kReadToken) + " read\n");
  Result<TokenTable> first = TokenTable::Load(file.path());
  REQUIRE(first.ok());
  ClientAuth auth(file.path(), std::move(*first));
  CHECK(auth.Authenticate(kReadToken) == Role::kRead);

  file.Write(std::string(kWriteToken) + " write\n" + std::string(kReadToken) + " rread\n");
  Status bad = auth.Reload();
  CHECK(bad.message() == file.path() + ":2: the role (second field) is not read, write or admin");
  CHECK(auth.Authenticate(kReadToken) == Role::kRead);  // the old tokens stay
  CHECK(auth.Authenticate(kWriteToken) == Role::kNone);

  file.Write(std::string(kWriteToken) + " write\n");
  REQUIRE(auth.Reload().ok());
  CHECK(auth.Authenticate(kReadToken) == Role::kNone);  // rotated out
  CHECK(auth.Authenticate(kWriteToken) == Role::kWrite);

  std::map<std::string, double> stats;
  auth.FillStats(&stats);
  CHECK(stats["clients.auth_accepted"] == 3);
  CHECK(stats["clients.auth_failures"] == 2);
  CHECK(stats["clients.token_reloads"] == 1);
  CHECK(stats["clients.token_reload_failures"] == 1);

  std::filesystem::remove(file.path());
  CHECK(auth.Reload().message() == "cannot read tokens file " + file.path() + ": No such file or directory");
  CHECK(auth.Authenticate(kWriteToken) == Role::kWrite);
}

// ---- The service on one connection -------------------------------------------------

class AuthFixture {
 public:
  AuthFixture() : auth("tokens.txt", Parsed(TokensText())) {
    f.service.SetClusterAdmin(&f.admin);
    f.service.SetAuth(&auth);
  }

  // Sends `request` on this fixture's connection; returns its answer.
  pb::Response Send(pb::Request request) {
    std::optional<pb::Response> answer;
    f.service.HandleFrom(session, request, [&answer](pb::Response response) { answer = std::move(response); });
    for (int i = 0; i < 100 && !answer; ++i) f.node_.RunStorage();
    REQUIRE(answer.has_value());
    return *answer;
  }
  pb::Response Auth(std::string_view token) {
    pb::Request request;
    request.mutable_auth()->set_token(std::string(token));
    return Send(request);
  }
  pb::Response Put(const std::string& key) {
    pb::Request request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value("v");
    return Send(request);
  }
  pb::Response Get(const std::string& key) {
    pb::Request request;
    request.mutable_get()->set_key(key);
    return Send(request);
  }
  pb::Response Remove(const std::string& node_id) {
    pb::Request request;
    request.mutable_remove_node()->set_node_id(node_id);
    return Send(request);
  }

  test::Fixture f;
  ClientAuth auth;
  ClientSession session;
};

void CheckError(const pb::Response& response, pb::ErrorCode code, std::string_view says) {
  REQUIRE_MESSAGE(response.has_error(), response.DebugString());
  CHECK(response.error().code() == code);
  CHECK_MESSAGE(response.error().message().find(says) != std::string::npos, response.error().message());
}

TEST_CASE("without a token only Ping is answered; everything else is UNAUTHENTICATED") {
  AuthFixture a;
  pb::Request ping;
  ping.mutable_ping();
  CHECK(a.Send(ping).ping().node_id() == "n1");
  CheckError(a.Get("k"), pb::UNAUTHENTICATED, "get: this node requires a token");
  CheckError(a.Put("k"), pb::UNAUTHENTICATED, "put: this node requires a token");
  pb::Request stats;
  stats.mutable_stats();
  CheckError(a.Send(stats), pb::UNAUTHENTICATED, "requires a token");
  CHECK(a.f.admin.removed.empty());
}

TEST_CASE("a refused token is UNAUTHENTICATED, counted, and leaves the connection unauthenticated") {
  AuthFixture a;
  REQUIRE(a.Auth(kAdminToken).auth().role() == "admin");
  const pb::Response refused = a.Auth("not-a-token-0123456789");
  CheckError(refused, pb::UNAUTHENTICATED, "the token was refused");
  CHECK(refused.error().message().find("not-a-token") == std::string::npos);
  // An unknown token and a malformed one get the same answer.
  CHECK(a.Auth("x").error().message() == refused.error().message());
  CheckError(a.Get("k"), pb::UNAUTHENTICATED, "get: the token this connection presented was refused");
  std::map<std::string, double> stats;
  a.auth.FillStats(&stats);
  CHECK(stats["clients.auth_failures"] == 2);
  CHECK(stats["clients.auth_accepted"] == 1);
}

TEST_CASE("a read token reads but may not write: PERMISSION_DENIED names the role needed") {
  AuthFixture a;
  REQUIRE(a.Auth(kReadToken).auth().role() == "read");
  CHECK_FALSE(a.Get("k").has_error());
  CheckError(a.Put("k"), pb::PERMISSION_DENIED, "put needs the 'write' role; this connection's token has 'read'");
  pb::Request repair;
  repair.mutable_repair()->set_start(true);
  CheckError(a.Send(repair), pb::PERMISSION_DENIED, "repair needs the 'admin' role");
}

TEST_CASE("a write token writes but may not remove a node; admin may") {
  AuthFixture a;
  REQUIRE(a.Auth(kWriteToken).auth().role() == "write");
  CHECK_FALSE(a.Put("k").has_error());
  CHECK(a.Get("k").get().siblings_size() == 1);
  CheckError(a.Remove("n2"), pb::PERMISSION_DENIED, "remove_node needs the 'admin' role; this connection's token has 'write'");
  CHECK(a.f.admin.removed.empty());
  pb::Request leave;
  leave.mutable_leave();
  CheckError(a.Send(leave), pb::PERMISSION_DENIED, "leave needs the 'admin' role");
  CHECK(a.f.admin.leaves == 0);

  REQUIRE(a.Auth(kAdminToken).auth().role() == "admin");
  CHECK_FALSE(a.Remove("n2").has_error());
  CHECK(a.f.admin.removed == std::vector<std::string>{"n2"});
}

TEST_CASE("each connection has its own standing") {
  AuthFixture a;
  REQUIRE(a.Auth(kWriteToken).auth().role() == "write");
  ClientSession other;
  pb::Request get;
  get.mutable_get()->set_key("k");
  std::optional<pb::Response> answer;
  a.f.service.HandleFrom(other, get, [&answer](pb::Response response) { answer = std::move(response); });
  REQUIRE(answer.has_value());
  CheckError(*answer, pb::UNAUTHENTICATED, "requires a token");
}

TEST_CASE("without security.clients every request is allowed and Auth says the node is open") {
  test::Fixture f;
  ClientSession session;
  std::vector<pb::Response> answers;
  auto send = [&](pb::Request request) {
    f.service.HandleFrom(session, request, [&answers](pb::Response response) { answers.push_back(response); });
    for (int i = 0; i < 100 && answers.empty(); ++i) f.node_.RunStorage();
    REQUIRE(answers.size() == 1);
    pb::Response answer = answers.back();
    answers.clear();
    return answer;
  };
  pb::Request put;
  put.mutable_put()->set_key("k");
  CHECK_FALSE(send(put).has_error());
  pb::Request auth;
  auth.mutable_auth()->set_token("anything");
  const pb::Response open = send(auth);
  CHECK(open.auth().open());
  CHECK(open.auth().role() == "admin");
}

}  // namespace
}  // namespace dynkv::api
