// The dynkv CLI's cluster commands: the text and JSON of members and
// transfers, and leave's wait against a fake node on its own thread.
#include "cluster_commands.h"

#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "../client/fake_node.h"

namespace dynkv::cli {
namespace {

client::TransfersResponse Leaving(uint32_t done, uint32_t total, uint64_t keys, uint64_t bytes,
                                  const std::string& status = "leaving") {
  client::TransfersResponse t;
  t.set_node_id("fake");
  t.set_status(status);
  t.set_change("leave fake");
  t.set_ranges_done(done);
  t.set_ranges_total(total);
  t.set_keys(keys);
  t.set_bytes(bytes);
  return t;
}

// A FILE* that collects what is written to it.
class Captured {
 public:
  Captured() : file_(std::tmpfile()) { REQUIRE(file_ != nullptr); }
  ~Captured() { std::fclose(file_); }
  std::FILE* file() { return file_; }
  std::string text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), file_)) > 0) out.append(buffer, n);
    std::fseek(file_, 0, SEEK_END);
    return out;
  }

 private:
  std::FILE* file_;
};

size_t Count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

struct Leave {
  explicit Leave(client::FakeNodeOptions options) : node(std::move(options)) {
    client::Options connect;
    connect.node = node.address();
    connect.timeout_ms = 2000;
    auto connected = client::Client::Connect(connect);
    REQUIRE(connected.ok());
    client = std::move(*connected);
    wait.address = node.address().ToString();
    wait.connect = connect;
    wait.poll_ms = 10;
    wait.wait_ms = 5000;
    wait.out = out.file();
    wait.err = err.file();
  }

  // AskToLeave, then WaitUntilLeft.
  Result<LeaveOutcome> Run() {
    auto node_id = AskToLeave(*client, wait.address, out.file());
    if (!node_id.ok()) return node_id.status();
    wait.node_id = *node_id;
    return WaitUntilLeft(*client, wait);
  }

  client::FakeNodeThread node;
  std::unique_ptr<client::Client> client;
  Captured out;
  Captured err;
  LeaveWait wait;
};

TEST_CASE("HumanBytes counts in powers of 1024 with one decimal") {
  CHECK(HumanBytes(0) == "0 B");
  CHECK(HumanBytes(1023) == "1023 B");
  CHECK(HumanBytes(1024) == "1.0 KiB");
  CHECK(HumanBytes(1536) == "1.5 KiB");
  CHECK(HumanBytes(5 * 1024 * 1024 + 600 * 1024) == "5.6 MiB");
  CHECK(HumanBytes(3ull << 40) == "3.0 TiB");
  CHECK(HumanBytes(UINT64_MAX) == "16.0 EiB");
}

TEST_CASE("transfers on a still ring says so in one line") {
  client::TransfersResponse still;
  still.set_node_id("node1");
  still.set_status("normal");
  CHECK(TransfersText(still) == "node1 normal: the ring is still: no transfers\n");
  CHECK(TransfersJson(still) ==
        "{\"node_id\": \"node1\", \"status\": \"normal\", \"ring_version\": \"0000000000000000\", "
        "\"change\": \"\", "
        "\"ranges_total\": 0, \"ranges_done\": 0, \"keys\": 0, \"bytes\": 0, \"transfers\": []}\n");
}

TEST_CASE("transfers prints the change, the totals and one line per range") {
  client::TransfersResponse t = Leaving(1, 2, 1234, 5 * 1024 * 1024 + 600 * 1024);
  t.set_ring_version(0xfedcba9876543210ull);
  client::Transfer* out = t.add_transfers();
  out->set_range_start(0xff);
  out->set_range_end(0xfff0000000000000ull);
  out->set_direction("out");
  out->set_from_node("fake");
  out->set_to_node("node-with-a-long-id");
  out->set_state("done");
  out->set_keys(1234);
  out->set_bytes(5 * 1024 * 1024 + 600 * 1024);
  client::Transfer* in = t.add_transfers();
  in->set_range_start(0x10);
  in->set_range_end(0x10);
  in->set_direction("in");
  in->set_from_node("n2");
  in->set_to_node("fake");
  in->set_state("pending");

  const std::string text = TransfersText(t);
  CHECK(text ==
        "fake leaving: leave fake; 1/2 ranges done, 1234 keys, 5.6 MiB moved\n"
        "RANGE                                DIR  FROM -> TO                  STATE            KEYS      "
        "BYTES\n"
        "(00000000000000ff, fff0000000000000] out  fake -> node-with-a-long-id done             1234    5.6 "
        "MiB\n"
        "(0000000000000010, 0000000000000010] in   n2 -> fake                  pending             0        "
        "0 B\n");

  const std::string json = TransfersJson(t);
  CHECK(json.find("\"ring_version\": \"fedcba9876543210\"") != std::string::npos);
  CHECK(json.find("\"change\": \"leave fake\", \"ranges_total\": 2, \"ranges_done\": 1, \"keys\": 1234, "
                  "\"bytes\": 5857280") != std::string::npos);
  CHECK(json.find("{\"range_start\": \"00000000000000ff\", \"range_end\": \"fff0000000000000\", "
                  "\"direction\": \"out\", \"from_node\": \"fake\", \"to_node\": \"node-with-a-long-id\", "
                  "\"state\": \"done\", \"keys\": 1234, \"bytes\": 5857280}") != std::string::npos);
}

TEST_CASE("transfers JSON keeps counts above 2^53 exact") {
  client::TransfersResponse t = Leaving(0, 1, (1ull << 53) + 1, UINT64_MAX);
  const std::string json = TransfersJson(t);
  CHECK(json.find("\"keys\": 9007199254740993") != std::string::npos);
  CHECK(json.find("\"bytes\": 18446744073709551615") != std::string::npos);
}

TEST_CASE("a change that moves nothing on this node says so") {
  client::TransfersResponse t;
  t.set_node_id("node1");
  t.set_status("normal");
  t.set_change("join node4");
  CHECK(TransfersText(t) ==
        "node1 normal: join node4; 0/0 ranges done, 0 keys, 0 B moved\n"
        "(no transfers on this node)\n");
}

client::PreflistResponse TwoRacks() {
  client::PreflistResponse p;
  p.set_node_id("n1");
  p.set_key("user:42");
  p.set_position(18446744073709551557ull);  // above 2^53: JSON must keep it exact
  auto add = [&p](const char* id, const char* rack, const char* role, bool up, const char* hint_for) {
    client::PreflistReplica* r = p.add_replicas();
    r->set_node_id(id);
    r->set_datacenter("dc1");
    r->set_rack(rack);
    r->set_role(role);
    r->set_up(up);
    r->set_hint_for(hint_for);
  };
  add("n2", "r1", "primary", true, "");
  add("n3", "r2", "primary", false, "");
  add("n4", "r2", "fallback", true, "n3");
  return p;
}

TEST_CASE("preflist prints the position, then a line per replica with its place, role and state") {
  const std::string text = PreflistText(TwoRacks());
  CHECK(text ==
        "key at position 18446744073709551557, as n1 sees it\n"
        "NODE             DATACENTER   RACK         ROLE     UP   FOR\n"
        "n2               dc1          r1           primary  up   -\n"
        "n3               dc1          r2           primary  down -\n"
        "n4               dc1          r2           fallback up   n3\n");
  client::PreflistResponse empty;
  empty.set_node_id("n1");
  CHECK(PreflistText(empty).ends_with("(no node owns tokens yet)\n"));
}

TEST_CASE("preflist JSON has the key, the exact position and each replica's fields") {
  CHECK(PreflistJson(TwoRacks()) ==
        "{\"key\": \"user:42\", \"position\": 18446744073709551557, \"node_id\": \"n1\", \"replicas\": ["
        "{\"node_id\": \"n2\", \"datacenter\": \"dc1\", \"rack\": \"r1\", \"role\": \"primary\", \"up\": true}, "
        "{\"node_id\": \"n3\", \"datacenter\": \"dc1\", \"rack\": \"r2\", \"role\": \"primary\", \"up\": false}, "
        "{\"node_id\": \"n4\", \"datacenter\": \"dc1\", \"rack\": \"r2\", \"role\": \"fallback\", \"up\": true, "
        "\"hint_for\": \"n3\"}]}\n");
}

TEST_CASE("members shows a replacing node as joining (replacing), and replacing in JSON") {
  client::MembersResponse members;
  members.set_node_id("n1");
  client::Member* self = members.add_members();
  self->set_node_id("n1");
  self->set_status("normal");
  self->set_up(true);
  self->set_self(true);
  client::Member* back = members.add_members();
  back->set_node_id("n2");
  back->set_status("joining");
  back->set_replacing(true);
  back->set_up(true);

  const std::string text = MembersText(members);
  CHECK(text.find("NODE             STATUS              STATE") == 0);
  CHECK(text.find("\nn2               joining (replacing) up    ") != std::string::npos);
  CHECK(text.find("\nn1 *             normal              up    ") != std::string::npos);

  const std::string json = MembersJson(members);
  CHECK(json.find("{\"node_id\": \"n2\", \"status\": \"joining\", \"replacing\": true,") !=
        std::string::npos);
  CHECK(json.find("{\"node_id\": \"n1\", \"status\": \"normal\", \"replacing\": false,") !=
        std::string::npos);
}

TEST_CASE("members keeps its old columns when no node is replacing") {
  client::MembersResponse members;
  client::Member* m = members.add_members();
  m->set_node_id("n1");
  m->set_status("leaving");
  CHECK(MembersText(members).find("NODE             STATUS   STATE GENERATION") == 0);
}

TEST_CASE("leave prints each change of progress once and ends when the node reports left") {
  Leave leave({.transfers = {Leaving(0, 2, 0, 0), Leaving(0, 2, 0, 0), Leaving(1, 2, 10, 2048),
                             Leaving(1, 2, 10, 2048), Leaving(2, 2, 20, 4096, "left")}});
  auto outcome = leave.Run();
  REQUIRE(outcome.ok());
  CHECK(*outcome == LeaveOutcome::kLeft);
  CHECK(leave.out.text() == "fake (" + leave.wait.address +
                                ") is leaving the cluster; waiting until it has left\n"
                                "fake leaving: 0/2 ranges done, 0 keys, 0 B moved\n"
                                "fake leaving: 1/2 ranges done, 10 keys, 2.0 KiB moved\n"
                                "fake left: 2/2 ranges done, 20 keys, 4.0 KiB moved\n"
                                "fake left the cluster\n");
  CHECK(leave.err.text() == "");
  // Ping, Leave, then one Transfers per scripted answer.
  CHECK(leave.node.requests_seen() == 7);
}

TEST_CASE("leave ends at once when the node stops right after it accepted") {
  // Today's dynkvd: it stops as soon as it has told its peers.
  Leave leave({.stop_after = 3, .transfers = {Leaving(0, 0, 0, 0)}});
  auto outcome = leave.Run();
  REQUIRE(outcome.ok());
  CHECK(*outcome == LeaveOutcome::kLeft);
  CHECK(leave.out.text() == "fake (" + leave.wait.address +
                                ") is leaving the cluster; waiting until it has left\n"
                                "fake left the cluster\n");
  CHECK(leave.err.text() == "");
}

TEST_CASE("leave ends when the node stops in the middle of its transfers") {
  Leave leave({.stop_after = 5, .transfers = {Leaving(0, 3, 0, 0), Leaving(2, 3, 7, 100)}});
  auto outcome = leave.Run();
  REQUIRE(outcome.ok());
  CHECK(*outcome == LeaveOutcome::kLeft);
  const std::string out = leave.out.text();
  CHECK(Count(out, "fake leaving: 2/3 ranges done, 7 keys, 100 B moved\n") == 1);
  CHECK(out.ends_with("fake left the cluster\n"));
}

TEST_CASE("leave gives up after its wait with TIMEOUT that says how to follow the leave") {
  Leave leave({.transfers = {Leaving(1, 4, 3, 300)}});
  leave.wait.wait_ms = 200;
  auto outcome = leave.Run();
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().code() == Code::kTimeout);
  CHECK(outcome.status().message() ==
        "fake (" + leave.wait.address +
            ") still answers 200 ms after it was asked to leave "
            "(fake leaving: 1/4 ranges done, 3 keys, 300 B moved); the leave goes "
            "on: follow it with 'dynkv --node " +
            leave.wait.address + " transfers'");
  CHECK(Count(leave.out.text(), "fake leaving: 1/4") == 1);
}

TEST_CASE("leave on a node that does not know transfers waits for it to stop, with one note") {
  Leave leave({.stop_after = 6});  // no transfers: each is INVALID_ARGUMENT
  auto outcome = leave.Run();
  REQUIRE(outcome.ok());
  CHECK(*outcome == LeaveOutcome::kLeft);
  CHECK(leave.err.text() ==
        "dynkv: cannot follow the transfers of fake (INVALID_ARGUMENT: unknown operation); waiting for it to "
        "stop\n");
  CHECK(leave.out.text().ends_with("fake left the cluster\n"));
}

TEST_CASE("an interrupted leave sends nothing more and says how to follow it") {
  Leave leave({.transfers = {Leaving(0, 2, 0, 0)}});
  volatile std::sig_atomic_t interrupted = 1;
  leave.wait.interrupted = &interrupted;
  auto outcome = leave.Run();
  REQUIRE(outcome.ok());
  CHECK(*outcome == LeaveOutcome::kInterrupted);
  CHECK(leave.node.requests_seen() == 2);  // Ping and Leave: no request cancels a leave
  CHECK(leave.err.text() ==
        "dynkv: stopped waiting; fake goes on leaving the cluster (Ctrl-C does not cancel a "
        "leave): follow it with 'dynkv --node " +
            leave.wait.address + " transfers'\n");
  CHECK(leave.out.text().find("left the cluster") == std::string::npos);
}

TEST_CASE("a leave the node refuses is its error, and nothing is awaited") {
  Leave leave({.close_after = 2});  // closes on the LeaveRequest
  auto outcome = leave.Run();
  REQUIRE_FALSE(outcome.ok());
  CHECK(outcome.status().code() == Code::kUnavailable);
  CHECK(leave.out.text() == "");
}

}  // namespace
}  // namespace dynkv::cli
