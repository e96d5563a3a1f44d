// RESP2: the parser and writers (resp.h), and the Redis commands
// (resp_commands.h) on a one-node ClientService over a real LevelDB
// replica on the simulator's Env.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

#include "api/resp.h"
#include "api/resp_commands.h"
#include "service_fixture.h"

namespace dynkv::api {
namespace {

namespace pb = dynkv::client;
using Args = std::vector<std::string>;

// Every command in `bytes`, or the error that stopped the parse.
std::vector<Args> ParseAll(RespParser& parser, std::string_view bytes, std::string* error = nullptr) {
  parser.Append(bytes);
  std::vector<Args> commands;
  Args args;
  while (true) {
    Result<bool> next = parser.Next(&args);
    if (!next.ok()) {
      if (error != nullptr) *error = next.status().message();
      break;
    }
    if (!*next) break;
    commands.push_back(args);
  }
  return commands;
}

TEST_CASE("the parser reads arrays of bulk strings, pipelined, with any bytes in them") {
  RespParser parser;
  const std::string value("a\r\n\0b", 5);
  const std::string bytes = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n" + value + "\r\n";
  const auto commands = ParseAll(parser, bytes);
  REQUIRE(commands.size() == 2);
  CHECK(commands[0] == Args{"GET", "k"});
  CHECK(commands[1] == Args{"SET", "k", value});
  CHECK(parser.buffered() == 0);
}

TEST_CASE("the parser waits for the rest of a command that arrives a byte at a time") {
  RespParser parser;
  const std::string bytes = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
  std::vector<Args> commands;
  for (size_t i = 0; i + 1 < bytes.size(); ++i) {
    CHECK(ParseAll(parser, bytes.substr(i, 1)).empty());
  }
  commands = ParseAll(parser, bytes.substr(bytes.size() - 1));
  REQUIRE(commands.size() == 1);
  CHECK(commands[0] == Args{"ECHO", "hello world"});
}

TEST_CASE("the parser reads inline commands as telnet sends them, quotes included") {
  RespParser parser;
  const auto commands = ParseAll(parser, "PING\r\n\r\nset k \"two words\"  x\r\n");
  REQUIRE(commands.size() == 2);
  CHECK(commands[0] == Args{"PING"});
  CHECK(commands[1] == Args{"set", "k", "two words", "x"});
}

TEST_CASE("the parser skips empty arrays and stops at what is not RESP") {
  std::string error;
  RespParser empty;
  CHECK(ParseAll(empty, "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n") == std::vector<Args>{{"PING"}});

  RespParser bad_length;
  CHECK(ParseAll(bad_length, "*x\r\n", &error).empty());
  CHECK(error == "Protocol error: invalid multibulk length");

  RespParser no_dollar;
  CHECK(ParseAll(no_dollar, "*1\r\n:4\r\n", &error).empty());
  CHECK(error == "Protocol error: expected '$', got ':'");

  RespParser no_crlf;
  CHECK(ParseAll(no_crlf, "*1\r\n$2\r\nabcd", &error).empty());
  CHECK(error == "Protocol error: bulk string not followed by CRLF");

  RespParser quotes;
  CHECK(ParseAll(quotes, "SET k \"open\r\n", &error).empty());
  CHECK(error == "Protocol error: unbalanced quotes in request");
}

TEST_CASE("millions of empty arrays and blank lines in one buffer are skipped, not recursed through") {
  std::string bytes;
  for (int i = 0; i < 1'000'000; ++i) bytes += "*0\r\n\r\n";
  bytes += "PING\r\n";
  RespParser parser;
  CHECK(ParseAll(parser, bytes) == std::vector<Args>{{"PING"}});
}

TEST_CASE("the parser refuses a bulk string over its limit before it arrives") {
  RespLimits limits;
  limits.max_bulk_bytes = 10;
  RespParser parser(limits);
  std::string error;
  CHECK(ParseAll(parser, "*2\r\n$3\r\nSET\r\n$11\r\n", &error).empty());
  CHECK(error == "Protocol error: invalid bulk length");
}

TEST_CASE("the writers encode what Redis clients read") {
  std::string out;
  RespSimple(&out, "OK");
  RespError(&out, "ERR two\r\nlines");
  RespInteger(&out, -2);
  RespBulk(&out, "ab");
  RespNull(&out);
  RespArrayHeader(&out, 0);
  CHECK(out == "+OK\r\n-ERR two  lines\r\n:-2\r\n$2\r\nab\r\n$-1\r\n*0\r\n");
}

// ---- Commands -------------------------------------------------------------------

class RespFixture {
 public:
  RespFixture()
      : commands(f.service, f.node_.env.clock(), RespNodeInfo{"n1", "test"}, [this] { return keys; }) {}

  // Runs a command to its reply.
  std::string Run(Args args) {
    std::optional<std::string> reply;
    commands.Run(args, client, [&reply](std::string bytes) { reply = std::move(bytes); });
    for (int i = 0; i < 100 && !reply; ++i) f.node_.RunStorage();
    REQUIRE(reply.has_value());
    return *reply;
  }
  // Starts a command; its reply lands in replies[index] (empty until then).
  size_t Start(Args args) {
    const size_t index = replies.size();
    replies.emplace_back();
    commands.Run(args, client, [this, index](std::string bytes) { replies[index] = std::move(bytes); });
    return index;
  }
  void Settle() {
    for (int i = 0; i < 100; ++i) f.node_.RunStorage();
  }
  // A write through the client API with no context: a sibling beside what
  // is there.
  void BlindPut(const std::string& key, const std::string& value) {
    pb::Request request;
    request.mutable_put()->set_key(key);
    request.mutable_put()->set_value(value);
    bool done = false;
    f.service.Handle(request, [&done](pb::Response response) {
      CHECK(!response.has_error());
      done = true;
    });
    for (int i = 0; i < 100 && !done; ++i) f.node_.RunStorage();
    REQUIRE(done);
  }

  test::Fixture f;
  std::optional<uint64_t> keys;
  RespCommands commands;
  RespClient client{7};
  std::vector<std::string> replies;
};

TEST_CASE("SET then GET, GET of a missing key, DEL counting what it removed") {
  RespFixture r;
  CHECK(r.Run({"SET", "k", "v1"}) == "+OK\r\n");
  CHECK(r.Run({"set", "k", "v2"}) == "+OK\r\n");
  CHECK(r.Run({"GET", "k"}) == "$2\r\nv2\r\n");
  CHECK(r.Run({"DYNKV.SIBLINGS", "k"}) == "*1\r\n$2\r\nv2\r\n");  // the second SET replaced the first
  CHECK(r.Run({"GET", "missing"}) == "$-1\r\n");
  CHECK(r.Run({"DEL", "k", "missing", "k"}) == ":1\r\n");
  CHECK(r.Run({"GET", "k"}) == "$-1\r\n");
  CHECK(r.Run({"DEL", "k"}) == ":0\r\n");
}

TEST_CASE("SET NX writes only a missing key, SET XX only an existing one") {
  RespFixture r;
  CHECK(r.Run({"SET", "k", "a", "XX"}) == "$-1\r\n");
  CHECK(r.Run({"GET", "k"}) == "$-1\r\n");
  CHECK(r.Run({"SET", "k", "a", "NX"}) == "+OK\r\n");
  CHECK(r.Run({"SET", "k", "b", "NX"}) == "$-1\r\n");
  CHECK(r.Run({"SET", "k", "c", "xx"}) == "+OK\r\n");
  CHECK(r.Run({"GET", "k"}) == "$1\r\nc\r\n");
  CHECK(r.Run({"SET", "k", "d", "NX", "XX"}) == "-ERR syntax error\r\n");
}

TEST_CASE("SET EX and PX set a TTL in whole seconds, EXPIRE changes it, TTL reports it") {
  RespFixture r;
  CHECK(r.Run({"TTL", "k"}) == ":-2\r\n");
  CHECK(r.Run({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(r.Run({"TTL", "k"}) == ":-1\r\n");
  CHECK(r.Run({"SET", "k", "v", "EX", "100"}) == "+OK\r\n");
  CHECK(r.Run({"TTL", "k"}) == ":100\r\n");
  CHECK(r.Run({"SET", "k", "v", "PX", "1500"}) == "+OK\r\n");
  CHECK(r.Run({"TTL", "k"}) == ":2\r\n");  // rounded up to seconds
  CHECK(r.Run({"EXPIRE", "k", "50"}) == ":1\r\n");
  CHECK(r.Run({"TTL", "k"}) == ":50\r\n");
  CHECK(r.Run({"GET", "k"}) == "$1\r\nv\r\n");
  CHECK(r.Run({"EXPIRE", "missing", "50"}) == ":0\r\n");
  CHECK(r.Run({"SET", "k", "v", "EX", "0"}) == "-ERR invalid expire time in 'set' command\r\n");
  CHECK(r.Run({"SET", "k", "v", "EX", "ten"}) == "-ERR value is not an integer or out of range\r\n");
  CHECK(r.Run({"SET", "k", "v", "KEEPTTL"}) == "-ERR SET KEEPTTL is not supported by dynkv\r\n");
}

TEST_CASE("a key with a TTL is gone once the TTL passes; EXPIRE 0 deletes at once") {
  RespFixture r;
  CHECK(r.Run({"SET", "k", "v", "EX", "2"}) == "+OK\r\n");
  r.f.node_.RunFor(2500);
  CHECK(r.Run({"GET", "k"}) == "$-1\r\n");
  CHECK(r.Run({"EXISTS", "k"}) == ":0\r\n");
  CHECK(r.Run({"SET", "j", "v"}) == "+OK\r\n");
  CHECK(r.Run({"EXPIRE", "j", "0"}) == ":1\r\n");
  CHECK(r.Run({"GET", "j"}) == "$-1\r\n");
}

TEST_CASE("MSET writes every pair, a repeated key taking its last value; MGET and EXISTS read them") {
  RespFixture r;
  CHECK(r.Run({"MSET", "a", "1", "b", "2", "a", "3"}) == "+OK\r\n");
  CHECK(r.Run({"MGET", "a", "b", "c"}) == "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n");
  CHECK(r.Run({"EXISTS", "a", "b", "c", "a"}) == ":3\r\n");
  CHECK(r.Run({"MSET", "a", "1", "b"}) == "-ERR wrong number of arguments for 'mset' command\r\n");
  CHECK(r.Run({"DYNKV.SIBLINGS", "a"}) == "*1\r\n$1\r\n3\r\n");
}

TEST_CASE("GET of a key with siblings returns the newest; DYNKV.SIBLINGS returns all, newest first; SET merges them") {
  RespFixture r;
  r.BlindPut("k", "old");
  r.f.node_.RunFor(10);
  r.BlindPut("k", "new");
  CHECK(r.Run({"DYNKV.SIBLINGS", "k"}) == "*2\r\n$3\r\nnew\r\n$3\r\nold\r\n");
  CHECK(r.Run({"GET", "k"}) == "$3\r\nnew\r\n");
  CHECK(r.Run({"SET", "k", "one"}) == "+OK\r\n");
  CHECK(r.Run({"DYNKV.SIBLINGS", "k"}) == "*1\r\n$3\r\none\r\n");
}

TEST_CASE("SETs of one key that wait together are applied in order: the last wins, no siblings") {
  RespFixture r;
  for (int i = 0; i < 20; ++i) r.Start({"SET", "hot", "v" + std::to_string(i)});
  r.Start({"SET", "hot", "nx", "NX"});  // the key exists by its turn
  r.Start({"SET", "hot", "last"});
  r.Settle();
  for (size_t i = 0; i < 20; ++i) CHECK(r.replies[i] == "+OK\r\n");
  CHECK(r.replies[20] == "$-1\r\n");
  CHECK(r.replies[21] == "+OK\r\n");
  CHECK(r.Run({"DYNKV.SIBLINGS", "hot"}) == "*1\r\n$4\r\nlast\r\n");
}

TEST_CASE("connection and server commands answer what redis-cli and redis-benchmark ask") {
  RespFixture r;
  CHECK(r.Run({"PING"}) == "+PONG\r\n");
  CHECK(r.Run({"PING", "hi"}) == "$2\r\nhi\r\n");
  CHECK(r.Run({"ECHO", "x"}) == "$1\r\nx\r\n");
  CHECK(r.Run({"SELECT", "0"}) == "+OK\r\n");
  CHECK(r.Run({"SELECT", "1"}).rfind("-ERR DB index is out of range", 0) == 0);
  CHECK(r.Run({"COMMAND", "DOCS"}) == "*0\r\n");
  CHECK(r.Run({"CONFIG", "GET", "save"}) == "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  CHECK(r.Run({"CONFIG", "GET", "appendonly"}) == "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  CHECK(r.Run({"CONFIG", "GET", "maxmemory"}) == "*0\r\n");
  CHECK(r.Run({"CONFIG", "SET", "save", ""}).rfind("-ERR CONFIG SET is not supported", 0) == 0);
  CHECK(r.Run({"HELLO", "3"}).rfind("-NOPROTO", 0) == 0);
  const std::string hello = r.Run({"HELLO", "2"});
  CHECK(hello.rfind("*14\r\n$6\r\nserver\r\n$5\r\ndynkv\r\n", 0) == 0);
  CHECK(hello.find("$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n") != std::string::npos);
  CHECK(r.Run({"CLIENT", "SETNAME", "me"}) == "+OK\r\n");
  CHECK(r.Run({"QUIT"}) == "+OK\r\n");
  CHECK(RespCommands::IsQuit({"quit"}));
}

TEST_CASE("DBSIZE and INFO give the estimate, and say when there is none yet") {
  RespFixture r;
  CHECK(r.Run({"DBSIZE"}).rfind("-ERR DBSIZE is not known yet", 0) == 0);
  CHECK(r.Run({"INFO"}).find("db0:") == std::string::npos);
  r.keys = 1234;
  CHECK(r.Run({"DBSIZE"}) == ":1234\r\n");
  CHECK(r.Run({"INFO"}).find("db0:keys=1234,") != std::string::npos);
}

TEST_CASE("unknown commands and wrong arity get Redis' errors; dynkv's errors keep their code") {
  RespFixture r;
  CHECK(r.Run({"FLUSHALL"}) == "-ERR unknown command 'FLUSHALL', with args beginning with: \r\n");
  CHECK(r.Run({"HSET", "h", "f", "v"}) ==
        "-ERR unknown command 'HSET', with args beginning with: 'h' 'f' 'v' \r\n");
  CHECK(r.Run({"GET"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(r.Run({"GET", "a", "b"}) == "-ERR wrong number of arguments for 'get' command\r\n");
  CHECK(r.Run({"SET", "", "v"}) == "-ERR key is empty\r\n");  // INVALID_ARGUMENT
  CHECK(r.Run({"SET", std::string(5000, 'k'), "v"}).rfind("-TOO_LARGE key is 5000 bytes", 0) == 0);
  CHECK(r.Run({"SET", "k", std::string((4 << 20) + 1, 'v')}).rfind("-TOO_LARGE ", 0) == 0);
}

TEST_CASE("with client tokens, AUTH comes first and the token's role decides what runs") {
  RespFixture r;
  Result<TokenTable> tokens = TokenTable::Parse("read-token-0123456789 read\nwrite-token-0123456789 write\n", "t");
  REQUIRE(tokens.ok());
  ClientAuth auth("t", std::move(*tokens));
  r.f.service.SetAuth(&auth);

  CHECK(r.Run({"GET", "k"}) == "-NOAUTH Authentication required.\r\n");
  CHECK(r.Run({"PING"}) == "-NOAUTH Authentication required.\r\n");
  CHECK(r.Run({"FLUSHALL"}) == "-NOAUTH Authentication required.\r\n");
  CHECK(r.Run({"AUTH", "wrong-token-0123456789"}) ==
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
  CHECK(r.Run({"AUTH"}) == "-ERR wrong number of arguments for 'auth' command\r\n");

  CHECK(r.Run({"AUTH", "read-token-0123456789"}) == "+OK\r\n");
  CHECK(r.Run({"GET", "k"}) == "$-1\r\n");
  CHECK(r.Run({"MGET", "k", "j"}) == "*2\r\n$-1\r\n$-1\r\n");
  CHECK(r.Run({"SET", "k", "v"}) ==
        "-NOPERM 'set' needs the 'write' role; this connection's token has 'read'\r\n");
  CHECK(r.Run({"DEL", "k"}).rfind("-NOPERM 'del' needs the 'write' role", 0) == 0);

  // AUTH user token: Redis 6's form; the user is ignored.
  CHECK(r.Run({"AUTH", "default", "write-token-0123456789"}) == "+OK\r\n");
  CHECK(r.Run({"SET", "k", "v"}) == "+OK\r\n");
  CHECK(r.Run({"GET", "k"}) == "$1\r\nv\r\n");

  CHECK(r.Run({"AUTH", "wrong-token-0123456789"}).rfind("-WRONGPASS", 0) == 0);
  CHECK(r.Run({"GET", "k"}) == "-NOAUTH Authentication required.\r\n");  // a refused AUTH ends the last one
  CHECK(r.Run({"QUIT"}) == "+OK\r\n");
}

TEST_CASE("without client tokens AUTH answers as a Redis without a password does") {
  RespFixture r;
  CHECK(r.Run({"AUTH", "anything"}).rfind("-ERR AUTH <password> called without any password configured", 0) == 0);
  CHECK(r.Run({"SET", "k", "v"}) == "+OK\r\n");
}

}  // namespace
}  // namespace dynkv::api
