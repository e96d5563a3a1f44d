#include "quorum/tally.h"

#include <algorithm>
#include <utility>

#include "quorum/dvv.h"

namespace dynkv::quorum {

namespace {

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

Status CheckLevel(uint32_t level, uint32_t n, std::string_view name) {
  if (level == 0 || level > n) {
    return Status::InvalidArgument(std::string(name) + "=" + std::to_string(level) + " is not in 1..N=" +
                                   std::to_string(n) + " (resolve it with ResolveQuorum)");
  }
  return Status::Ok();
}

bool HasFallbackFor(const std::vector<ring::Replica>& list, const std::string& primary) {
  return std::any_of(list.begin(), list.end(),
                     [&](const ring::Replica& r) { return r.up && r.fallback && r.hint_for == primary; });
}

bool Contains(const std::vector<ring::Replica>& list, const std::string& node_id) {
  return std::any_of(list.begin(), list.end(), [&](const ring::Replica& r) { return r.node_id == node_id; });
}

std::vector<std::string> DownNodes(const std::vector<ring::Replica>& list) {
  std::vector<std::string> down;
  for (const ring::Replica& r : list) {
    if (!r.up) down.push_back(r.node_id);
  }
  return down;
}

Status TooFewAlive(std::string_view name, uint32_t level, uint32_t n, uint32_t alive,
                   const std::vector<ring::Replica>& list) {
  std::string message = "too few replicas alive to try: " + std::string(name) + "=" + std::to_string(level) +
                        " but only " + std::to_string(alive) + " of N=" + std::to_string(n) +
                        " replicas can answer";
  const std::vector<std::string> down = DownNodes(list);
  if (!down.empty()) message += " (down: " + Join(down) + ")";
  return Status::Unavailable(std::move(message));
}

// The code a request fails with when replicas failed: theirs when they all
// agree (STORAGE_ERROR from every disk says more than UNAVAILABLE), else
// UNAVAILABLE.
Code SharedCode(const std::vector<Status>& errors) {
  if (errors.empty()) return Code::kUnavailable;
  for (const Status& e : errors) {
    if (e.code() != errors.front().code()) return Code::kUnavailable;
  }
  return errors.front().code();
}

// "n2: UNAVAILABLE: unreachable; n3: ..." for the replicas that failed.
template <typename Entry>
std::string DescribeFailures(const std::vector<Entry>& entries, std::vector<Status>* errors) {
  std::string out;
  for (const Entry& e : entries) {
    if (e.error.ok()) continue;
    if (!out.empty()) out += "; ";
    out += e.target.node_id + ": " + e.error.ToString();
    errors->push_back(e.error);
  }
  return out;
}

constexpr std::string_view kNotRolledBack = "; the write may still be applied";

// " in dc2" for a group of a per-datacenter level, "" for a plain level's.
std::string InGroup(const std::string& name) { return name.empty() ? "" : " in " + name; }

uint32_t GroupOf(uint32_t group, size_t groups) { return group < groups ? group : 0; }

}  // namespace

Result<uint32_t> ResolveQuorum(uint32_t requested, uint32_t configured_default, uint32_t n,
                               std::string_view name) {
  if (n == 0) return Status::InvalidArgument("N=0: a key needs at least one replica");
  switch (requested) {
    case 0:
      return std::clamp<uint32_t>(configured_default, 1, n);
    case kQuorumLevel:
      return n / 2 + 1;
    case kAllLevel:
      return n;
    default:
      if (requested <= n) return requested;
      return Status::InvalidArgument(std::string(name) + "=" + std::to_string(requested) +
                                     " exceeds N=" + std::to_string(n) + " replicas" +
                                     (n == 1 ? " (this node is a cluster of one)" : ""));
  }
}

std::vector<ring::Replica> WithUncoveredPrimaries(std::vector<ring::Replica> sloppy,
                                                  const std::vector<ring::Replica>& strict) {
  for (const ring::Replica& primary : strict) {
    if (primary.up || primary.fallback) continue;
    if (Contains(sloppy, primary.node_id) || HasFallbackFor(sloppy, primary.node_id)) continue;
    ring::Replica down = primary;
    down.up = false;
    sloppy.push_back(std::move(down));
  }
  return sloppy;
}

Result<WritePlan> PlanWrite(const std::vector<ring::Replica>& preference_list, const WriteOptions& options) {
  DYNKV_RETURN_IF_ERROR(CheckLevel(options.w, options.n, "w"));
  WritePlan plan;
  plan.required_acks = options.w;
  auto already_target = [&](const std::string& id) {
    return std::any_of(plan.targets.begin(), plan.targets.end(),
                       [&](const WriteTarget& t) { return t.node_id == id; });
  };
  // Primaries first so that targets[0], the replica that mints the dot,
  // holds a real copy rather than a hint.
  for (const ring::Replica& r : preference_list) {
    if (r.up && !r.fallback && !already_target(r.node_id)) plan.targets.push_back({r.node_id, "", true});
  }
  if (options.sloppy_quorum) {
    for (const ring::Replica& r : preference_list) {
      if (r.up && r.fallback && !already_target(r.node_id)) {
        plan.targets.push_back({r.node_id, r.hint_for, options.hinted_writes_count});
      }
    }
    for (const ring::Replica& r : preference_list) {
      if (r.up || r.fallback || HasFallbackFor(preference_list, r.node_id) || plan.targets.empty()) continue;
      plan.kept_hints.push_back({plan.targets.front().node_id, r.node_id});
    }
  }
  const auto counting = static_cast<uint32_t>(std::count_if(
      plan.targets.begin(), plan.targets.end(), [](const WriteTarget& t) { return t.counts_towards_w; }));
  if (counting < options.w) return TooFewAlive("w", options.w, options.n, counting, preference_list);
  return plan;
}

WriteTally::WriteTally(const WritePlan& plan)
    : required_(plan.group_required.empty() ? std::vector<uint32_t>{plan.required_acks} : plan.group_required),
      counted_(required_.size(), 0),
      names_(plan.group_required.empty() ? std::vector<std::string>{""} : plan.group_names) {
  names_.resize(required_.size());
  for (const WriteTarget& target : plan.targets) {
    Entry entry;
    entry.target = target;
    entry.target.group = GroupOf(target.group, required_.size());
    entries_.push_back(std::move(entry));
  }
  Decide();
}

WriteTally::Entry* WriteTally::Find(const std::string& node_id) {
  for (Entry& e : entries_) {
    if (e.target.node_id == node_id) return &e;
  }
  return nullptr;
}

void WriteTally::OnAck(const std::string& node_id) {
  Entry* entry = Find(node_id);
  if (state_ != TallyState::kWaiting || entry == nullptr || entry->reply != Reply::kPending) return;
  entry->reply = Reply::kAck;
  acked_.push_back(node_id);
  if (entry->target.counts_towards_w) ++counted_[entry->target.group];
  Decide();
}

void WriteTally::OnError(const std::string& node_id, const Status& error) {
  Entry* entry = Find(node_id);
  if (state_ != TallyState::kWaiting || entry == nullptr || entry->reply != Reply::kPending) return;
  entry->reply = Reply::kError;
  entry->error = error.ok() ? Status::Internal("error reported with an OK status") : error;
  Decide();
}

void WriteTally::AddTarget(const WriteTarget& target) {
  if (state_ != TallyState::kWaiting || Find(target.node_id) != nullptr) return;
  Entry entry;
  entry.target = target;
  entry.target.group = GroupOf(target.group, required_.size());
  entries_.push_back(std::move(entry));
}

bool WriteTally::Pending(const std::string& node_id) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.target.node_id == node_id && e.reply == Reply::kPending;
  });
}

void WriteTally::OnDeadline(uint64_t waited_ms) {
  if (state_ != TallyState::kWaiting) return;
  size_t g = 0;
  while (g + 1 < required_.size() && counted_[g] >= required_[g]) ++g;
  std::vector<Status> errors;
  const std::string failures = DescribeFailures(entries_, &errors);
  state_ = TallyState::kFailed;
  status_ = Status::Timeout(std::to_string(counted_[g]) + " of " + std::to_string(required_[g]) +
                            " required replicas" + InGroup(names_[g]) + " acknowledged within " +
                            std::to_string(waited_ms) + " ms" + (failures.empty() ? "" : " (" + failures + ")") +
                            std::string(kNotRolledBack));
}

uint32_t WriteTally::counted_acks() const {
  uint32_t counted = 0;
  for (uint32_t acks : counted_) counted += acks;
  return counted;
}

uint32_t WriteTally::PendingIn(size_t group) const {
  return static_cast<uint32_t>(std::count_if(entries_.begin(), entries_.end(), [group](const Entry& e) {
    return e.reply == Reply::kPending && e.target.counts_towards_w && e.target.group == group;
  }));
}

void WriteTally::Decide() {
  if (state_ != TallyState::kWaiting) return;
  bool met = true;
  for (size_t g = 0; g < required_.size(); ++g) {
    if (counted_[g] >= required_[g]) continue;
    met = false;
    if (counted_[g] + PendingIn(g) >= required_[g]) continue;
    std::vector<Status> errors;
    const std::string failures = DescribeFailures(entries_, &errors);
    const std::string in = InGroup(names_[g]);
    state_ = TallyState::kFailed;
    status_ = Status(SharedCode(errors),
                     std::to_string(counted_[g]) + " of " + std::to_string(required_[g]) + " required replicas" +
                         in + " acknowledged and " + std::to_string(errors.size()) + " failed, so W=" +
                         std::to_string(required_[g]) + in + " cannot be reached (" + failures + ")" +
                         std::string(kNotRolledBack));
    return;
  }
  if (met) state_ = TallyState::kSucceeded;
}

Result<ReadPlan> PlanRead(const std::vector<ring::Replica>& preference_list, uint32_t n, uint32_t r) {
  DYNKV_RETURN_IF_ERROR(CheckLevel(r, n, "r"));
  ReadPlan plan;
  plan.required_replies = r;
  for (const ring::Replica& replica : preference_list) {
    const bool seen = std::any_of(plan.targets.begin(), plan.targets.end(),
                                  [&](const ReadTarget& t) { return t.node_id == replica.node_id; });
    if (replica.up && !seen) plan.targets.push_back({replica.node_id, replica.fallback});
  }
  const auto alive = static_cast<uint32_t>(plan.targets.size());
  if (alive < r) return TooFewAlive("r", r, n, alive, preference_list);
  return plan;
}

ReadTally::ReadTally(const ReadPlan& plan) {
  const std::vector<uint32_t> required =
      plan.group_required.empty() ? std::vector<uint32_t>{plan.required_replies} : plan.group_required;
  groups_.resize(required.size());
  for (size_t g = 0; g < required.size(); ++g) {
    groups_[g].required = required[g];
    if (g < plan.group_names.size()) groups_[g].name = plan.group_names[g];
  }
  for (const ReadTarget& target : plan.targets) {
    Entry entry;
    entry.target = target;
    entry.target.group = GroupOf(target.group, groups_.size());
    Group& group = groups_[entry.target.group];
    ++group.pending;
    if (!target.fallback) ++group.primaries_pending;
    entries_.push_back(std::move(entry));
  }
  Decide();
}

uint32_t ReadTally::replies() const {
  uint32_t replies = 0;
  for (const Group& group : groups_) replies += group.replies;
  return replies;
}

uint32_t ReadTally::counted_replies() const {
  uint32_t counted = 0;
  for (const Group& group : groups_) counted += group.counted();
  return counted;
}

const ReadTally::Group* ReadTally::Short(uint32_t (*count)(const Group&)) const {
  for (const Group& group : groups_) {
    if (count(group) < group.required) return &group;
  }
  return nullptr;
}

ReadTally::Entry* ReadTally::Find(const std::string& node_id) {
  for (Entry& e : entries_) {
    if (e.target.node_id == node_id) return &e;
  }
  return nullptr;
}

void ReadTally::OnReply(const std::string& node_id, const Object& object) {
  Entry* entry = Find(node_id);
  if (finished_ || entry == nullptr || entry->reply != Reply::kPending) return;
  entry->reply = Reply::kObject;
  // Sync with the empty object puts the siblings in Sync's order, so an
  // up-to-date replica compares equal to the merge.
  entry->object = dvv::Sync(object, Object{});
  // Sync with the empty object is the identity on a normalized object.
  merged_ = merged_.empty() ? entry->object : dvv::Sync(merged_, entry->object);
  ++answered_;
  Group& group = groups_[entry->target.group];
  ++group.replies;
  --group.pending;
  if (entry->target.fallback) {
    ++group.fallback_replies;
  } else {
    --group.primaries_pending;
  }
  Decide();
}

void ReadTally::OnError(const std::string& node_id, const Status& error) {
  Entry* entry = Find(node_id);
  if (finished_ || entry == nullptr || entry->reply != Reply::kPending) return;
  entry->reply = Reply::kError;
  entry->error = error.ok() ? Status::Internal("error reported with an OK status") : error;
  ++answered_;
  Group& group = groups_[entry->target.group];
  --group.pending;
  if (!entry->target.fallback) --group.primaries_pending;
  Decide();
}

bool ReadTally::Pending(const std::string& node_id) const {
  return std::any_of(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.target.node_id == node_id && e.reply == Reply::kPending;
  });
}

void ReadTally::OnDeadline(uint64_t waited_ms) {
  if (finished_) return;
  finished_ = true;
  if (state_ != TallyState::kWaiting) return;
  // The pending primaries could not answer in time: the fallbacks count.
  const Group* short_group = Short([](const Group& g) { return g.replies; });
  if (short_group == nullptr) {
    state_ = TallyState::kSucceeded;
    return;
  }
  std::vector<Status> errors;
  const std::string failures = DescribeFailures(entries_, &errors);
  state_ = TallyState::kFailed;
  status_ = Status::Timeout(std::to_string(short_group->replies) + " of " + std::to_string(short_group->required) +
                            " required replicas" + InGroup(short_group->name) + " replied within " +
                            std::to_string(waited_ms) + " ms" + (failures.empty() ? "" : " (" + failures + ")"));
}

void ReadTally::Decide() {
  if (answered_ == entries_.size()) finished_ = true;
  if (state_ != TallyState::kWaiting) return;
  if (Short([](const Group& g) { return g.counted(); }) == nullptr) {
    state_ = TallyState::kSucceeded;
    return;
  }
  // Every reply, a fallback's included, counts by the deadline at the latest:
  // R is unreachable only when those and every pending target fall short.
  const Group* short_group = Short([](const Group& g) { return g.replies + g.pending; });
  if (short_group == nullptr) return;
  std::vector<Status> errors;
  const std::string failures = DescribeFailures(entries_, &errors);
  const std::string in = InGroup(short_group->name);
  state_ = TallyState::kFailed;
  status_ = Status(SharedCode(errors), std::to_string(short_group->replies) + " of " +
                                           std::to_string(short_group->required) + " required replicas" + in +
                                           " replied and " + std::to_string(errors.size()) + " failed, so R=" +
                                           std::to_string(short_group->required) + in + " cannot be reached (" +
                                           failures + ")");
}

std::vector<std::string> ReadTally::RepairTargets() const {
  std::vector<std::string> stale;
  for (const Entry& e : entries_) {
    if (e.reply == Reply::kObject && !e.target.fallback && e.object != merged_)
      stale.push_back(e.target.node_id);
  }
  return stale;
}

}  // namespace dynkv::quorum
