#include "cluster_commands.h"

#include <cstdio>
#include <string>

#include "json.h"

namespace dynkv::cli {

namespace {

std::string MemberJson(const client::Member& m) {
  return "{\"node_id\": " + JsonString(m.node_id()) + ", \"status\": " + JsonString(m.status()) +
         ", \"up\": " + (m.up() ? "true" : "false") + ", \"state\": " + JsonString(m.up() ? "up" : "down") +
         ", \"generation\": " + JsonNumber(static_cast<double>(m.generation())) +
         ", \"address\": " + JsonString(m.client_address()) +
         ", \"peer_address\": " + JsonString(m.peer_address()) + ", \"phi\": " + JsonNumber(m.phi(), "%.3f") +
         ", \"tokens\": " + JsonNumber(m.tokens()) + ", \"datacenter\": " + JsonString(m.datacenter()) +
         ", \"rack\": " + JsonString(m.rack()) + ", \"self\": " + (m.self() ? "true" : "false") + "}";
}

}  // namespace

Status PrintMembers(client::Client& c, bool json) {
  auto members = c.Members();
  if (!members.ok()) return members.status();
  std::string out;
  if (json) {
    out = "{\"node_id\": " + JsonString(members->node_id()) + ", \"members\": [";
    for (int i = 0; i < members->members_size(); ++i) out += (i ? ", " : "") + MemberJson(members->members(i));
    out += "]}\n";
  } else {
    char line[256];
    std::snprintf(line, sizeof(line), "%-16s %-8s %-5s %-15s %-21s %-21s %8s %6s\n", "NODE", "STATUS", "STATE",
                  "GENERATION", "ADDRESS", "PEER", "PHI", "TOKENS");
    out = line;
    for (const client::Member& m : members->members()) {
      const std::string name = m.node_id() + (m.self() ? " *" : "");
      std::snprintf(line, sizeof(line), "%-16s %-8s %-5s %-15llu %-21s %-21s %8.2f %6u\n", name.c_str(),
                    m.status().c_str(), m.up() ? "up" : "down", static_cast<unsigned long long>(m.generation()),
                    m.client_address().c_str(), m.peer_address().c_str(), m.phi(), m.tokens());
      out += line;
    }
    out += "(* the node asked; up/down is its own judgement)\n";
  }
  std::fputs(out.c_str(), stdout);
  return Status::Ok();
}

Status PrintRing(client::Client& c, bool json) {
  auto ring = c.Ring();
  if (!ring.ok()) return ring.status();
  std::string out;
  if (json) {
    out = "{\"node_id\": " + JsonString(ring->node_id()) + ", \"n\": " + JsonNumber(ring->n()) + ", \"nodes\": [";
    for (int i = 0; i < ring->shares_size(); ++i) {
      const client::RingShare& s = ring->shares(i);
      out += std::string(i ? ", " : "") + "{\"node_id\": " + JsonString(s.node_id()) +
             ", \"tokens\": " + JsonNumber(s.tokens()) + ", \"share\": " + JsonNumber(s.share(), "%.6f") +
             ", \"replica_share\": " + JsonNumber(s.replica_share(), "%.6f") + "}";
    }
    out += "]}\n";
  } else {
    char line[160];
    std::snprintf(line, sizeof(line), "%-16s %6s %8s %14s\n", "NODE", "TOKENS", "SHARE",
                  ("REPLICAS(N=" + std::to_string(ring->n()) + ")").c_str());
    out = line;
    for (const client::RingShare& s : ring->shares()) {
      std::snprintf(line, sizeof(line), "%-16s %6u %7.2f%% %13.2f%%\n", s.node_id().c_str(), s.tokens(),
                    100 * s.share(), 100 * s.replica_share());
      out += line;
    }
    if (ring->shares_size() == 0) out += "(no node owns tokens yet)\n";
  }
  std::fputs(out.c_str(), stdout);
  return Status::Ok();
}

Status LeaveCluster(client::Client& c, const std::string& node) {
  Status status = c.Leave();
  if (status.ok()) std::printf("the node at %s is leaving the cluster and will stop\n", node.c_str());
  return status;
}

Status RemoveNode(client::Client& c, const std::string& node_id) {
  Status status = c.RemoveNode(node_id);
  if (status.ok()) std::printf("removed %s from the cluster\n", node_id.c_str());
  return status;
}

}  // namespace dynkv::cli
