#include "repair_command.h"

#include <chrono>
#include <thread>

#include "json_line.h"

namespace dynkv::cli {

namespace {

std::string Plural(uint64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

std::string RepairLine(const client::RepairResponse& r) {
  return "repair on " + r.node_id() + ": " + std::to_string(r.ranges_done()) + " of " +
         Plural(r.ranges_total(), "range", "ranges") + " compared (" + std::to_string(r.peers_done()) + " of " +
         Plural(r.peers_total(), "replica peer", "replica peers") + "), " +
         Plural(r.keys_repaired(), "key", "keys") + " repaired";
}

std::string RepairSummary(const client::RepairResponse& r) {
  char seconds[32];
  std::snprintf(seconds, sizeof(seconds), "%.1f", static_cast<double>(r.finished_ms() - r.started_ms()) / 1000.0);
  std::string out = "repair on " + r.node_id() + " done in " + seconds + " s: " + std::to_string(r.ranges_done()) +
                    " of " + Plural(r.ranges_total(), "range", "ranges") + " compared with " +
                    Plural(r.peers_total(), "replica peer", "replica peers") + "; " +
                    Plural(r.keys_repaired(), "key", "keys") + " repaired (" +
                    Plural(r.segments_differing(), "segment", "segments") + " differed)\n";
  for (const std::string& peer : r.down()) out += "  not compared: " + peer + " was down\n";
  for (const std::string& line : r.not_compared()) out += "  not compared: " + line + "\n";
  return out;
}

std::string RepairJson(const client::RepairResponse& r) {
  auto list = [](const auto& items) { return tools::Json(std::vector<std::string>(items.begin(), items.end())); };
  return tools::JsonLine(
             {{"node_id", r.node_id()},
              {"running", r.running()},
              {"ranges_total", r.ranges_total()},
              {"ranges_done", r.ranges_done()},
              {"peers_total", r.peers_total()},
              {"peers_done", r.peers_done()},
              {"keys_repaired", r.keys_repaired()},
              {"segments_differing", r.segments_differing()},
              {"seconds", tools::JsonDecimal(static_cast<double>(r.finished_ms() - r.started_ms()) / 1000.0, 3)},
              {"down", list(r.down())},
              {"not_compared", list(r.not_compared())}}) +
         "\n";
}

Result<int> RunRepair(client::Client& c, const RepairWait& wait) {
  using Clock = std::chrono::steady_clock;
  auto repair = c.Repair(/*start=*/true);
  if (!repair.ok()) return repair.status();
  const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(wait.wait_ms);
  std::string last_line;
  while (repair->running()) {
    if (wait.interrupted != nullptr && *wait.interrupted != 0) {
      std::fprintf(wait.err, "dynkv: stopped following; the repair goes on (follow it with 'dynkv stats')\n");
      return 130;
    }
    const std::string line = RepairLine(*repair);
    if (!wait.json && line != last_line) {
      std::fprintf(wait.out, "%s\n", line.c_str());
      std::fflush(wait.out);
      last_line = line;
    }
    if (Clock::now() >= deadline) return Status::Timeout("the repair still runs; it goes on");
    std::this_thread::sleep_for(std::chrono::milliseconds(wait.poll_ms));
    repair = c.Repair(/*start=*/false);
    if (!repair.ok()) return repair.status();
  }
  std::fputs((wait.json ? RepairJson(*repair) : RepairSummary(*repair)).c_str(), wait.out);
  std::fflush(wait.out);
  return repair->not_compared_size() == 0 ? 0 : 1;
}

}  // namespace dynkv::cli
