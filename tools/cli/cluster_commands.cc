#include "cluster_commands.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "json_line.h"

namespace dynkv::cli {

namespace {

// printf into a std::string of any length.
template <typename... Args>
std::string Format(const char* format, Args... args) {
  const int length = std::snprintf(nullptr, 0, format, args...);
  std::string out(static_cast<size_t>(length), '\0');
  std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

// A ring position or ring version: 16 hex digits, as `ring` tools show them
// (a JSON number would round positions above 2^53).
std::string Hex64(uint64_t value) { return Format("%016llx", static_cast<unsigned long long>(value)); }

// "joining (replacing)" for a node that streams its old ranges back in.
std::string StatusText(const client::Member& m) { return m.status() + (m.replacing() ? " (replacing)" : ""); }

tools::Json MemberJson(const client::Member& m) {
  return {{"node_id", m.node_id()},
          {"status", m.status()},
          {"replacing", m.replacing()},
          {"up", m.up()},
          {"state", m.up() ? "up" : "down"},
          {"generation", tools::JsonNumber(static_cast<double>(m.generation()))},
          {"address", m.client_address()},
          {"peer_address", m.peer_address()},
          {"phi", tools::JsonDecimal(m.phi(), 3)},
          {"tokens", m.tokens()},
          {"datacenter", m.datacenter()},
          {"rack", m.rack()},
          {"self", m.self()}};
}

tools::Json TransferJson(const client::Transfer& t) {
  return {{"range_start", Hex64(t.range_start())},
          {"range_end", Hex64(t.range_end())},
          {"direction", t.direction()},
          {"from_node", t.from_node()},
          {"to_node", t.to_node()},
          {"state", t.state()},
          {"keys", t.keys()},
          {"bytes", t.bytes()}};
}

// "3/8 ranges done, 1234 keys, 5.6 MiB moved"
std::string Totals(const client::TransfersResponse& t) {
  return Format("%u/%u ranges done, %llu keys, %s moved", t.ranges_done(), t.ranges_total(),
                static_cast<unsigned long long>(t.keys()), HumanBytes(t.bytes()).c_str());
}

std::string DurationText(int64_t ms) {
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + " min";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// Sleeps `ms`, or less when a signal comes: nanosleep is never restarted.
void SleepMs(int64_t ms) {
  timespec duration{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1000000};
  nanosleep(&duration, nullptr);
}

std::string FollowHint(const LeaveWait& wait) {
  return "follow it with 'dynkv --node " + wait.address + " transfers'";
}

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return Format("%.1f %s", value, kUnits[unit]);
}

std::string MembersJson(const client::MembersResponse& members) {
  tools::Json list = tools::Json::array();
  for (const client::Member& m : members.members()) list.push_back(MemberJson(m));
  return tools::JsonLine({{"node_id", members.node_id()}, {"members", list}}) + "\n";
}

std::string MembersText(const client::MembersResponse& members) {
  int status_width = 8;
  for (const client::Member& m : members.members()) {
    status_width = std::max(status_width, static_cast<int>(StatusText(m).size()));
  }
  std::string out = Format("%-16s %-*s %-5s %-15s %-21s %-21s %8s %6s\n", "NODE", status_width, "STATUS",
                           "STATE", "GENERATION", "ADDRESS", "PEER", "PHI", "TOKENS");
  for (const client::Member& m : members.members()) {
    const std::string name = m.node_id() + (m.self() ? " *" : "");
    out +=
        Format("%-16s %-*s %-5s %-15llu %-21s %-21s %8.2f %6u\n", name.c_str(), status_width,
               StatusText(m).c_str(), m.up() ? "up" : "down", static_cast<unsigned long long>(m.generation()),
               m.client_address().c_str(), m.peer_address().c_str(), m.phi(), m.tokens());
  }
  return out + "(* the node asked; up/down is its own judgement)\n";
}

std::string TransfersJson(const client::TransfersResponse& t) {
  tools::Json list = tools::Json::array();
  for (const client::Transfer& transfer : t.transfers()) list.push_back(TransferJson(transfer));
  return tools::JsonLine({{"node_id", t.node_id()},
                          {"status", t.status()},
                          {"ring_version", Hex64(t.ring_version())},
                          {"change", t.change()},
                          {"ranges_total", t.ranges_total()},
                          {"ranges_done", t.ranges_done()},
                          {"keys", t.keys()},
                          {"bytes", t.bytes()},
                          {"transfers", list}}) +
         "\n";
}

std::string TransfersText(const client::TransfersResponse& t) {
  const std::string node = t.node_id() + " " + t.status() + ": ";
  if (t.change().empty() && t.transfers_size() == 0) return node + "the ring is still: no transfers\n";
  std::string out =
      node + (t.change().empty() ? "no change in progress" : t.change()) + "; " + Totals(t) + "\n";
  if (t.transfers_size() == 0) return out + "(no transfers on this node)\n";
  int path_width = static_cast<int>(std::string("FROM -> TO").size());
  for (const client::Transfer& transfer : t.transfers()) {
    path_width =
        std::max(path_width, static_cast<int>(transfer.from_node().size() + 4 + transfer.to_node().size()));
  }
  out += Format("%-36s %-4s %-*s %-8s %12s %10s\n", "RANGE", "DIR", path_width, "FROM -> TO", "STATE", "KEYS",
                "BYTES");
  for (const client::Transfer& transfer : t.transfers()) {
    const std::string range = "(" + Hex64(transfer.range_start()) + ", " + Hex64(transfer.range_end()) + "]";
    const std::string path = transfer.from_node() + " -> " + transfer.to_node();
    out += Format("%-36s %-4s %-*s %-8s %12llu %10s\n", range.c_str(), transfer.direction().c_str(),
                  path_width, path.c_str(), transfer.state().c_str(),
                  static_cast<unsigned long long>(transfer.keys()), HumanBytes(transfer.bytes()).c_str());
  }
  return out;
}

std::string ProgressLine(const client::TransfersResponse& t) {
  return t.node_id() + " " + t.status() + ": " + Totals(t);
}

Status PrintMembers(client::Client& c, bool json) {
  auto members = c.Members();
  if (!members.ok()) return members.status();
  std::fputs((json ? MembersJson(*members) : MembersText(*members)).c_str(), stdout);
  return Status::Ok();
}

Status PrintTransfers(client::Client& c, bool json) {
  auto transfers = c.Transfers();
  if (!transfers.ok()) return transfers.status();
  std::fputs((json ? TransfersJson(*transfers) : TransfersText(*transfers)).c_str(), stdout);
  return Status::Ok();
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

// replication.datacenters as the node has it, by name (a protobuf map
// has no order).
std::map<std::string, uint32_t> Datacenters(const client::RingResponse& ring) {
  return {ring.datacenters().begin(), ring.datacenters().end()};
}

// "dc1=2 dc2=1".
std::string DatacenterCounts(const client::RingResponse& ring) {
  std::string out;
  for (const auto& [name, count] : Datacenters(ring)) {
    out += (out.empty() ? "" : " ") + name + "=" + std::to_string(count);
  }
  return out;
}

Status PrintRing(client::Client& c, bool json) {
  auto ring = c.Ring();
  if (!ring.ok()) return ring.status();
  std::string out;
  if (json) {
    tools::Json nodes = tools::Json::array();
    for (const client::RingShare& s : ring->shares()) {
      nodes.push_back({{"node_id", s.node_id()},
                       {"tokens", s.tokens()},
                       {"share", tools::JsonDecimal(s.share(), 6)},
                       {"replica_share", tools::JsonDecimal(s.replica_share(), 6)},
                       {"datacenter", s.datacenter()},
                       {"rack", s.rack()}});
    }
    tools::Json datacenters = tools::Json::object();
    for (const auto& [name, count] : Datacenters(*ring)) datacenters[name] = count;
    tools::Json differs = tools::Json::array();
    for (const std::string& node_id : ring->replication_differs()) differs.push_back(node_id);
    out = tools::JsonLine({{"node_id", ring->node_id()},
                           {"n", ring->n()},
                           {"nodes", nodes},
                           {"datacenters", datacenters},
                           {"replication_differs", differs}}) +
          "\n";
  } else {
    out = Format("%-16s %6s %8s %14s %-12s %s\n", "NODE", "TOKENS", "SHARE",
                 ("REPLICAS(N=" + std::to_string(ring->n()) + ")").c_str(), "DATACENTER", "RACK");
    for (const client::RingShare& s : ring->shares()) {
      out += Format("%-16s %6u %7.2f%% %13.2f%% %-12s %s\n", s.node_id().c_str(), s.tokens(), 100 * s.share(),
                    100 * s.replica_share(), OrDash(s.datacenter()).c_str(), OrDash(s.rack()).c_str());
    }
    if (ring->shares_size() == 0) out += "(no node owns tokens yet)\n";
    if (ring->datacenters_size() > 0) out += "replicas per datacenter: " + DatacenterCounts(*ring) + "\n";
    for (const std::string& node_id : ring->replication_differs()) {
      out += "warning: " + node_id + " has another replication setting than " + ring->node_id() +
             ": they place keys on different replicas\n";
    }
  }
  std::fputs(out.c_str(), stdout);
  return Status::Ok();
}

std::string PreflistText(const client::PreflistResponse& preflist) {
  char line[256];
  std::snprintf(line, sizeof(line), "key at position %020llu, as %s sees it\n",
                static_cast<unsigned long long>(preflist.position()), preflist.node_id().c_str());
  std::string out = line;
  std::snprintf(line, sizeof(line), "%-16s %-12s %-12s %-8s %-4s %s\n", "NODE", "DATACENTER", "RACK", "ROLE", "UP",
                "FOR");
  out += line;
  for (const client::PreflistReplica& r : preflist.replicas()) {
    std::snprintf(line, sizeof(line), "%-16s %-12s %-12s %-8s %-4s %s\n", r.node_id().c_str(),
                  r.datacenter().c_str(), r.rack().c_str(), r.role().c_str(), r.up() ? "up" : "down",
                  r.hint_for().empty() ? "-" : r.hint_for().c_str());
    out += line;
  }
  if (preflist.replicas_size() == 0) out += "(no node owns tokens yet)\n";
  return out;
}

std::string PreflistJson(const client::PreflistResponse& preflist) {
  tools::Json replicas = tools::Json::array();
  for (const client::PreflistReplica& r : preflist.replicas()) {
    tools::Json replica = {{"node_id", r.node_id()}, {"datacenter", r.datacenter()}, {"rack", r.rack()},
                           {"role", r.role()},       {"up", r.up()}};
    if (!r.hint_for().empty()) replica["hint_for"] = r.hint_for();
    replicas.push_back(std::move(replica));
  }
  return tools::JsonLine({{"key", preflist.key()},
                          {"position", preflist.position()},
                          {"node_id", preflist.node_id()},
                          {"replicas", replicas}}) +
         "\n";
}

Status PrintPreflist(client::Client& c, const std::string& key, bool json) {
  auto preflist = c.Preflist(key);
  if (!preflist.ok()) return preflist.status();
  std::fputs((json ? PreflistJson(*preflist) : PreflistText(*preflist)).c_str(), stdout);
  return Status::Ok();
}

Result<std::string> AskToLeave(client::Client& c, const std::string& address, std::FILE* out) {
  auto pong = c.Ping();
  if (!pong.ok()) return pong.status();
  Status status = c.Leave();
  if (!status.ok()) return status;
  std::fprintf(out, "%s (%s) is leaving the cluster; waiting until it has left\n", pong->node_id().c_str(),
               address.c_str());
  std::fflush(out);
  return pong->node_id();
}

Result<LeaveOutcome> WaitUntilLeft(client::Client& c, const LeaveWait& wait) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(wait.wait_ms);
  auto interrupted = [&wait] { return wait.interrupted != nullptr && *wait.interrupted != 0; };
  client::Client* node = &c;
  std::unique_ptr<client::Client> reconnected;
  std::string last_line;
  std::string last_note;
  while (true) {
    if (interrupted()) {
      std::fprintf(
          wait.err,
          "dynkv: stopped waiting; %s goes on leaving the cluster (Ctrl-C does not cancel a leave): %s\n",
          wait.node_id.c_str(), FollowHint(wait).c_str());
      return LeaveOutcome::kInterrupted;
    }
    Result<client::TransfersResponse> transfers = node->Transfers();
    if (transfers.ok()) {
      const std::string line = ProgressLine(*transfers);
      if (line != last_line) {
        std::fprintf(wait.out, "%s\n", line.c_str());
        std::fflush(wait.out);
        last_line = line;
      }
      if (transfers->status() == "left") break;
    } else {
      // The connection closed, or the node answered with an error. A node
      // that takes no new connection has stopped: it stops once it has left.
      Result<std::unique_ptr<client::Client>> fresh = client::Client::Connect(wait.connect);
      if (!fresh.ok()) break;
      reconnected = std::move(*fresh);
      node = reconnected.get();
      // A closed connection is expected on the way out; other errors are
      // worth a line, once.
      const std::string note = transfers.status().ToString();
      if (transfers.status().code() != Code::kUnavailable && note != last_note) {
        std::fprintf(wait.err, "dynkv: cannot follow the transfers of %s (%s); waiting for it to stop\n",
                     wait.node_id.c_str(), note.c_str());
        last_note = note;
      }
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      return Status::Timeout(wait.node_id + " (" + wait.address + ") still answers " +
                             DurationText(wait.wait_ms) + " after it was asked to leave" +
                             (last_line.empty() ? "" : " (" + last_line + ")") +
                             "; the leave goes on: " + FollowHint(wait));
    }
    const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
    SleepMs(std::min<int64_t>(wait.poll_ms, left_ms));
  }
  std::fprintf(wait.out, "%s left the cluster\n", wait.node_id.c_str());
  std::fflush(wait.out);
  return LeaveOutcome::kLeft;
}

Status RemoveNode(client::Client& c, const std::string& node_id) {
  Status status = c.RemoveNode(node_id);
  if (status.ok()) std::printf("removed %s from the cluster\n", node_id.c_str());
  return status;
}

}  // namespace dynkv::cli
