// The node's YAML config loader (config.h, docs/OPERATIONS.md).
//
// Strict by design: every key must be known, every value is checked, and
// every error names the line and the field, so an operator fixes a config
// in one try instead of finding out at the first request. The document is
// walked key by key (never with yaml-cpp's as<T>()), so the only exceptions
// come from parsing itself and are converted at one place, ReadDocument.
#include "node/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace dynkv::node {
namespace {

using KeyList = std::span<const std::string_view>;

constexpr std::array<std::string_view, 15> kTopKeys = {
    "node_id", "listen", "data_dir",        "seeds",     "replication", "storage",          "limits",
    "request_timeout", "log_level", "cluster_name", "location", "ring", "gossip", "failure_detector", "handoff"};
constexpr std::array<std::string_view, 2> kLocationKeys = {"datacenter", "rack"};
constexpr std::array<std::string_view, 1> kRingKeys = {"vnodes"};
constexpr std::array<std::string_view, 1> kGossipKeys = {"interval_ms"};
constexpr std::array<std::string_view, 1> kFailureDetectorKeys = {"phi_threshold"};
constexpr std::array<std::string_view, 2> kListenKeys = {"client", "peer"};
constexpr std::array<std::string_view, 6> kReplicationKeys = {"n", "r", "w", "sloppy_quorum",
                                                              "hinted_writes_count", "conflicts"};
constexpr std::array<std::string_view, 2> kHandoffKeys = {"max_bytes_per_sec", "hint_window"};
constexpr std::array<std::string_view, 8> kStorageKeys = {
    "cache_bytes",        "compress_min_bytes", "compress_level",  "sync",
    "write_buffer_bytes", "block_cache_bytes",  "tombstone_grace", "reap_interval"};
constexpr std::array<std::string_view, 7> kLimitsKeys = {
    "max_frame_bytes", "max_key_bytes",   "max_value_bytes",     "max_object_bytes",
    "max_siblings",    "max_connections", "max_pending_requests"};

constexpr uint64_t kMaxU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxNodeIdChars = 64;
// Room in a frame for everything in a Put besides its key and value.
constexpr uint64_t kFrameOverheadBytes = 64 << 10;
// LevelDB silently clips write_buffer_size to this range; refusing values
// outside it is more honest than running with a different one.
constexpr uint64_t kMinWriteBufferBytes = 64 << 10;
constexpr uint64_t kMaxWriteBufferBytes = 1 << 30;
// Real configs are a few KiB; the cap stops a wrong path (a device, a huge
// log) from being read into memory.
constexpr size_t kMaxConfigFileBytes = 1 << 20;

// Where a value sits: the dotted path an operator reads, and its line.
struct Field {
  std::string path;
  int line = 1;  // 1-based
};

// A value as shown in messages: quoted, on one line, cut short when long.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxShown = 48;
  std::string out = "'";
  for (char c : text.substr(0, kMaxShown)) {
    const bool control = static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
    out += control ? '?' : c;
  }
  if (text.size() > kMaxShown) out += "...";
  return out + "'";
}

Field Child(const Field& parent, std::string_view key, int line) {
  std::string name = Quote(key);
  name = name.substr(1, name.size() - 2);
  return {parent.path.empty() ? name : parent.path + "." + name, line};
}

int LineOf(const YAML::Node& node, int fallback) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? fallback : mark.line + 1;
}

// The message without the "<source>:" that ParseConfig puts in front.
Status Invalid(const Field& field, std::string_view explanation) {
  return Status::InvalidArgument(std::to_string(field.line) + ": " + field.path + ": " +
                                 std::string(explanation));
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

std::string Join(KeyList keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// Levenshtein distance, or `limit + 1` once it is certainly above `limit`.
size_t EditDistance(std::string_view a, std::string_view b, size_t limit) {
  if (std::max(a.size(), b.size()) - std::min(a.size(), b.size()) > limit) return limit + 1;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string UnknownKeyHelp(std::string_view key, KeyList known) {
  constexpr size_t kMaxSuggestionDistance = 2;
  std::string_view best;
  size_t best_distance = kMaxSuggestionDistance + 1;
  for (std::string_view candidate : known) {
    const size_t distance = EditDistance(key, candidate, kMaxSuggestionDistance);
    if (distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (!best.empty()) return "unknown key; did you mean '" + std::string(best) + "'?";
  return "unknown key; expected one of " + Join(known);
}

// ---- Maps ----------------------------------------------------------------

// One value of a map. Its line is the value's own when it is a scalar
// (where a bad value is), else the key's (where a list or map begins).
struct Entry {
  YAML::Node value;
  Field field;
};
using Entries = std::map<std::string, Entry, std::less<>>;

// The entries of `map`, after checking every key against `known`. A null
// map (a section whose keys are all commented out) has no entries.
Result<Entries> ReadMap(const YAML::Node& map, const Field& where, KeyList known) {
  Entries entries;
  if (map.IsNull()) return entries;
  if (!map.IsMap()) return Invalid(where, "expected a map of " + Join(known) + ", got " + Describe(map));
  // Bound by reference: yaml-cpp's iterator hands out a temporary pair.
  for (const auto& pair : map) {
    const YAML::Node& key_node = pair.first;
    const YAML::Node& value = pair.second;
    const int key_line = LineOf(key_node, where.line);
    if (!key_node.IsScalar()) {
      return Invalid({where.path.empty() ? "document" : where.path, key_line},
                     "keys must be plain names; expected one of " + Join(known));
    }
    const std::string key = key_node.Scalar();
    Field field = Child(where, key, key_line);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Invalid(field, UnknownKeyHelp(key, known));
    }
    if (auto previous = entries.find(key); previous != entries.end()) {
      return Invalid(field, "given twice (also on line " + std::to_string(previous->second.field.line) +
                                "); each key may appear once");
    }
    field.line = value.IsScalar() ? LineOf(value, key_line) : key_line;
    entries.emplace(key, Entry{value, std::move(field)});
  }
  return entries;
}

const Entry* Find(const Entries& entries, std::string_view key) {
  auto it = entries.find(key);
  return it == entries.end() ? nullptr : &it->second;
}

// REQUIRES: `key` is one of the map's known keys (so Child needs no quoting).
Result<const Entry*> Require(const Entries& entries, std::string_view key, const Field& map_field,
                             std::string_view expected) {
  const Entry* entry = Find(entries, key);
  if (entry != nullptr) return entry;
  return Invalid(Child(map_field, key, map_field.line),
                 "missing required field; expected " + std::string(expected));
}

// ---- Scalars -------------------------------------------------------------

// A scalar, quoted or not. `expected` completes "expected ..." in errors.
Result<std::string> ReadText(const Entry& entry, std::string_view expected) {
  if (!entry.value.IsScalar()) {
    return Invalid(entry.field, "expected " + std::string(expected) + ", got " + Describe(entry.value));
  }
  return entry.value.Scalar();
}

// YAML marks a quoted scalar with the non-specific tag "!": it is a string
// even when it looks like a number.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

// A whole number in [min, max], written without quotes.
Result<uint64_t> ReadCount(const Entry& entry, uint64_t min, uint64_t max) {
  const std::string expected =
      "a whole number between " + std::to_string(min) + " and " + std::to_string(max);
  Result<std::string> text = ReadText(entry, expected);
  if (!text.ok()) return text.status();
  if (IsQuoted(entry.value)) {
    return Invalid(entry.field, "expected " + expected + ", got the quoted string " + Quote(*text) +
                                    "; write numbers without quotes");
  }
  uint64_t value = 0;
  const char* end = text->data() + text->size();
  const auto [stop, error] = std::from_chars(text->data(), end, value);
  if (text->empty() || error != std::errc() || stop != end || value < min || value > max) {
    return Invalid(entry.field, "expected " + expected + ", got " + Quote(*text));
  }
  return value;
}

Result<bool> ReadBool(const Entry& entry) {
  Result<std::string> text = ReadText(entry, "true or false");
  if (!text.ok()) return text.status();
  if (!IsQuoted(entry.value)) {
    if (*text == "true" || *text == "True" || *text == "TRUE") return true;
    if (*text == "false" || *text == "False" || *text == "FALSE") return false;
  }
  return Invalid(entry.field, "expected true or false, got " + Quote(*text));
}

// A number with a unit, as written: "1.5MiB" is {1, 5, 10, "MiB"}.
struct Quantity {
  uint64_t whole = 0;
  uint64_t fraction = 0;        // the digits after the point, as a number
  uint64_t fraction_scale = 1;  // 10 to the number of those digits
  std::string_view unit;
};

// nullopt unless `text` is digits, optionally a point and up to 9 digits,
// then optional spaces and a unit (letters only).
std::optional<Quantity> SplitQuantity(std::string_view text) {
  constexpr uint64_t kMaxFractionScale = 1'000'000'000;
  Quantity q;
  const char* begin = text.data();
  const char* end = begin + text.size();
  const auto [whole_end, error] = std::from_chars(begin, end, q.whole);
  if (whole_end == begin || error != std::errc()) return std::nullopt;
  const char* p = whole_end;
  if (p != end && *p == '.') {
    for (++p; p != end && *p >= '0' && *p <= '9'; ++p) {
      if (q.fraction_scale == kMaxFractionScale) return std::nullopt;
      q.fraction = q.fraction * 10 + static_cast<uint64_t>(*p - '0');
      q.fraction_scale *= 10;
    }
    if (q.fraction_scale == 1) return std::nullopt;  // "5." has no fraction digits
  }
  while (p != end && *p == ' ') ++p;
  q.unit = std::string_view(p, static_cast<size_t>(end - p));
  return q;
}

// q in base units (bytes, milliseconds); nullopt when that is not a whole
// number or does not fit. unit_size * fraction < 2^30 * 10^9 cannot overflow.
std::optional<uint64_t> ToBaseUnits(const Quantity& q, uint64_t unit_size) {
  if (q.whole > kMaxU64 / unit_size) return std::nullopt;
  const uint64_t whole = q.whole * unit_size;
  const uint64_t fraction = q.fraction * unit_size;
  if (fraction % q.fraction_scale != 0) return std::nullopt;
  const uint64_t extra = fraction / q.fraction_scale;
  if (whole > kMaxU64 - extra) return std::nullopt;
  return whole + extra;
}

struct Unit {
  std::string_view name;
  uint64_t size;
};

constexpr std::array<Unit, 8> kSizeUnits = {{{"", 1},
                                             {"B", 1},
                                             {"KiB", 1ull << 10},
                                             {"MiB", 1ull << 20},
                                             {"GiB", 1ull << 30},
                                             {"KB", 1'000},
                                             {"MB", 1'000'000},
                                             {"GB", 1'000'000'000}}};
// A bare number is seconds, the unit operators mean most often.
constexpr std::array<Unit, 6> kDurationUnits = {
    {{"", 1'000}, {"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

// `value` in the largest of `units` (listed smallest first) that states it
// exactly, e.g. "64KiB" or "7d"; else in the base unit.
template <size_t N>
std::string FormatExact(uint64_t value, const std::array<Unit, N>& units, std::string_view base_name) {
  for (size_t i = N; i-- > 0;) {
    if (value != 0 && value % units[i].size == 0) {
      return std::to_string(value / units[i].size) + std::string(units[i].name);
    }
  }
  return std::to_string(value) + std::string(base_name);
}

std::string FormatSize(uint64_t bytes) {
  constexpr std::array<Unit, 3> kBinary = {{{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}};
  return FormatExact(bytes, kBinary, "B");
}

std::string FormatDuration(uint64_t ms) {
  constexpr std::array<Unit, 4> kLarger = {
      {{"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
  return FormatExact(ms, kLarger, "ms");
}

// A size or duration: a number and a unit from `units`, within [min, max]
// base units. `what` and `syntax` word the error.
template <size_t N>
Result<uint64_t> ReadQuantity(const Entry& entry, const std::array<Unit, N>& units, uint64_t min,
                              uint64_t max, std::string_view what, std::string_view syntax,
                              std::string (*format)(uint64_t)) {
  const std::string expected = std::string(what) + " (" + std::string(syntax) + ")";
  Result<std::string> text = ReadText(entry, expected);
  if (!text.ok()) return text.status();
  std::optional<uint64_t> value;
  if (std::optional<Quantity> q = SplitQuantity(*text)) {
    for (const Unit& unit : units) {
      if (unit.name == q->unit) value = ToBaseUnits(*q, unit.size);
    }
  }
  if (!value) return Invalid(entry.field, Quote(*text) + " is not " + expected);
  if (*value < min || *value > max) {
    return Invalid(entry.field, Quote(*text) + " is out of range; expected " + std::string(what) +
                                    " between " + format(min) + " and " + format(max));
  }
  return *value;
}

Result<uint64_t> ReadSize(const Entry& entry, uint64_t min, uint64_t max) {
  return ReadQuantity(entry, kSizeUnits, min, max, "a size",
                      "whole bytes, or a number with a unit B, KiB, MiB, GiB, KB, MB or GB, e.g. 64MiB",
                      &FormatSize);
}

Result<uint64_t> ReadDurationMs(const Entry& entry, uint64_t min, uint64_t max) {
  return ReadQuantity(entry, kDurationUnits, min, max, "a duration",
                      "a number with a unit ms, s, m, h or d, e.g. 5s; a bare number is seconds",
                      &FormatDuration);
}

// ---- Optional settings -----------------------------------------------------

using Reader = Result<uint64_t> (*)(const Entry&, uint64_t, uint64_t);

// Sets *out from entries[key] read by `read`, when the key is present.
template <typename T>
Status SetIfPresent(const Entries& entries, std::string_view key, Reader read, uint64_t min, uint64_t max,
                    T* out) {
  const Entry* entry = Find(entries, key);
  if (entry == nullptr) return Status::Ok();
  Result<uint64_t> value = read(*entry, min, max);
  if (!value.ok()) return value.status();
  *out = static_cast<T>(*value);
  return Status::Ok();
}

// The line to blame for a rule between several fields: the first of
// `keys` that the file sets (defaults have no line), else the section's.
Field Blame(const Entries& entries, KeyList keys, const Field& section) {
  for (std::string_view key : keys) {
    if (const Entry* entry = Find(entries, key)) return entry->field;
  }
  return Child(section, keys.front(), section.line);
}

// ---- Sections --------------------------------------------------------------

bool IsNodeIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

Status ReadNodeId(const Entries& top, const Field& root, Config* config) {
  constexpr std::string_view kExpected = "1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'";
  Result<const Entry*> entry =
      Require(top, "node_id", root, "the node's name (" + std::string(kExpected) + ")");
  if (!entry.ok()) return entry.status();
  Result<std::string> id = ReadText(**entry, kExpected);
  if (!id.ok()) return id.status();
  if (id->empty() || id->size() > kMaxNodeIdChars || !std::all_of(id->begin(), id->end(), IsNodeIdChar)) {
    return Invalid((*entry)->field,
                   Quote(*id) + " is not a valid node id; expected " + std::string(kExpected));
  }
  config->node_id = std::move(*id);
  return Status::Ok();
}

Status ReadDataDir(const Entries& top, const Field& root, Config* config) {
  constexpr std::string_view kExpected = "the directory that holds this node's data";
  Result<const Entry*> entry = Require(top, "data_dir", root, kExpected);
  if (!entry.ok()) return entry.status();
  Result<std::string> dir = ReadText(**entry, kExpected);
  if (!dir.ok()) return dir.status();
  if (dir->empty()) return Invalid((*entry)->field, "is empty; expected " + std::string(kExpected));
  if (dir->find('\0') != std::string::npos) {
    return Invalid((*entry)->field, "contains a NUL character; expected " + std::string(kExpected));
  }
  config->data_dir = std::move(*dir);
  config->storage.data_dir = config->data_dir;
  return Status::Ok();
}

constexpr std::string_view kAddressSyntax = "HOST:PORT with a port between 1 and 65535, e.g. 127.0.0.1:7101";

Result<net::HostPort> ReadAddress(const Entry& entry) {
  Result<std::string> text = ReadText(entry, kAddressSyntax);
  if (!text.ok()) return text.status();
  Result<net::HostPort> address = net::ParseHostPort(*text);
  // The net module's message says what is wrong, e.g. an IPv6 host without brackets.
  if (!address.ok()) {
    return Invalid(entry.field, address.status().message() + "; expected " + std::string(kAddressSyntax));
  }
  return address;
}

bool SameAddress(const net::HostPort& a, const net::HostPort& b) {
  return a.host == b.host && a.port == b.port;
}

Status ReadListen(const Entries& top, const Field& root, Config* config) {
  Result<const Entry*> listen = Require(top, "listen", root, "a map with client and peer addresses");
  if (!listen.ok()) return listen.status();
  const Field& where = (*listen)->field;
  Result<Entries> entries = ReadMap((*listen)->value, where, kListenKeys);
  if (!entries.ok()) return entries.status();
  Result<const Entry*> client =
      Require(*entries, "client", where, "the address clients connect to, as " + std::string(kAddressSyntax));
  if (!client.ok()) return client.status();
  Result<const Entry*> peer = Require(
      *entries, "peer", where, "the address other nodes connect to, as " + std::string(kAddressSyntax));
  if (!peer.ok()) return peer.status();
  Result<net::HostPort> client_address = ReadAddress(**client);
  if (!client_address.ok()) return client_address.status();
  Result<net::HostPort> peer_address = ReadAddress(**peer);
  if (!peer_address.ok()) return peer_address.status();
  if (SameAddress(*client_address, *peer_address)) {
    return Invalid((*peer)->field,
                   "is the same address as listen.client; expected a different port for peers");
  }
  config->client_address = std::move(*client_address);
  config->peer_address = std::move(*peer_address);
  return Status::Ok();
}

Status ReadSeeds(const Entries& top, Config* config) {
  const Entry* seeds = Find(top, "seeds");
  if (seeds == nullptr || seeds->value.IsNull()) return Status::Ok();
  if (!seeds->value.IsSequence()) {
    return Invalid(seeds->field, "expected a list of peer addresses (" + std::string(kAddressSyntax) +
                                     "), got " + Describe(seeds->value));
  }
  std::vector<Field> fields;
  for (const YAML::Node& node : seeds->value) {
    Field field{"seeds[" + std::to_string(fields.size()) + "]", LineOf(node, seeds->field.line)};
    Result<net::HostPort> seed = ReadAddress(Entry{node, field});
    if (!seed.ok()) return seed.status();
    for (size_t i = 0; i < config->seeds.size(); ++i) {
      if (SameAddress(config->seeds[i], *seed)) {
        return Invalid(field, Quote(node.Scalar()) + " is already listed as " + fields[i].path + " (line " +
                                  std::to_string(fields[i].line) + "); expected each seed once");
      }
    }
    config->seeds.push_back(std::move(*seed));
    fields.push_back(std::move(field));
  }
  return Status::Ok();
}

// r or w against n. An explicit value is blamed on its own line; a default
// that no longer fits (n: 1 with the default r of 2) on n's.
Status CheckQuorum(const Entries& entries, const Field& section, std::string_view key, uint32_t value,
                   uint32_t n) {
  if (value >= 1 && value <= n) return Status::Ok();
  const std::string name(key);
  const Entry* entry = Find(entries, key);
  const std::string range = name + " must be between 1 and n";
  if (entry == nullptr) {
    const Field field = Blame(entries, std::array<std::string_view, 1>{"n"}, section);
    return Invalid(Child(section, key, field.line), "the default " + name + " (" + std::to_string(value) +
                                                        ") exceeds replication.n (" + std::to_string(n) +
                                                        "); " + range + ", so set " + name + " too");
  }
  if (value == 0) return Invalid(entry->field, "0 is not allowed; " + range + " (" + std::to_string(n) + ")");
  return Invalid(entry->field,
                 std::to_string(value) + " exceeds replication.n (" + std::to_string(n) + "); " + range);
}

Status ReadReplication(const Entries& top, ReplicationConfig* replication) {
  const Entry* section = Find(top, "replication");
  if (section == nullptr) return Status::Ok();
  Result<Entries> entries = ReadMap(section->value, section->field, kReplicationKeys);
  if (!entries.ok()) return entries.status();
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "n", &ReadCount, 1, kMaxU32, &replication->n));
  // 0 passes here so that CheckQuorum can word it in terms of n.
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "r", &ReadCount, 0, kMaxU32, &replication->r));
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "w", &ReadCount, 0, kMaxU32, &replication->w));
  DYNKV_RETURN_IF_ERROR(CheckQuorum(*entries, section->field, "r", replication->r, replication->n));
  DYNKV_RETURN_IF_ERROR(CheckQuorum(*entries, section->field, "w", replication->w, replication->n));
  for (auto [key, out] : {std::pair{"sloppy_quorum", &replication->sloppy_quorum},
                          std::pair{"hinted_writes_count", &replication->hinted_writes_count}}) {
    if (const Entry* entry = Find(*entries, key)) {
      Result<bool> value = ReadBool(*entry);
      if (!value.ok()) return value.status();
      *out = *value;
    }
  }
  if (const Entry* conflicts = Find(*entries, "conflicts")) {
    Result<std::string> mode = ReadText(*conflicts, "siblings or lww");
    if (!mode.ok()) return mode.status();
    if (*mode != "siblings" && *mode != "lww") {
      return Invalid(conflicts->field, "expected siblings (keep concurrent writes) or lww (last write wins), got " +
                                           Quote(*mode));
    }
    replication->last_write_wins = *mode == "lww";
  }
  return Status::Ok();
}

Status ReadHandoff(const Entries& top, HandoffConfig* handoff) {
  const Entry* section = Find(top, "handoff");
  if (section == nullptr) return Status::Ok();
  Result<Entries> entries = ReadMap(section->value, section->field, kHandoffKeys);
  if (!entries.ok()) return entries.status();
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_bytes_per_sec", &ReadSize, 1024, kMaxU64, &handoff->max_bytes_per_sec));
  return SetIfPresent(*entries, "hint_window", &ReadDurationMs, 1000, kMaxI64, &handoff->hint_window_ms);
}

Status ReadStorage(const Entries& top, Config* config) {
  const Entry* section = Find(top, "storage");
  if (section == nullptr) return Status::Ok();
  Result<Entries> entries = ReadMap(section->value, section->field, kStorageKeys);
  if (!entries.ok()) return entries.status();
  storage::Options& options = config->storage;
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "cache_bytes", &ReadSize, 0, kMaxU64, &options.cache_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "compress_min_bytes", &ReadSize, 0, kMaxU32, &options.compress_min_bytes));
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "compress_level", &ReadCount, 1, 19, &options.compress_level));
  if (const Entry* sync = Find(*entries, "sync")) {
    Result<bool> value = ReadBool(*sync);
    if (!value.ok()) return value.status();
    options.sync = *value;
  }
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*entries, "write_buffer_bytes", &ReadSize, kMinWriteBufferBytes,
                                     kMaxWriteBufferBytes, &options.write_buffer_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "block_cache_bytes", &ReadSize, 0, kMaxU64, &options.block_cache_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "tombstone_grace", &ReadDurationMs, 0, kMaxI64, &config->tombstone_grace_ms));
  return SetIfPresent(*entries, "reap_interval", &ReadDurationMs, 1, kMaxI64, &config->reap_interval_ms);
}

Status CheckLimits(const Entries& entries, const Field& section, const LimitsConfig& limits) {
  if (limits.max_object_bytes < limits.max_value_bytes) {
    const Field field =
        Blame(entries, std::array<std::string_view, 2>{"max_object_bytes", "max_value_bytes"}, section);
    return Invalid(field,
                   "max_object_bytes (" + FormatSize(limits.max_object_bytes) +
                       ") is smaller than max_value_bytes (" + FormatSize(limits.max_value_bytes) +
                       "); expected max_object_bytes >= max_value_bytes, since an object holds whole values");
  }
  // Each term is at most 4GiB, so the sum cannot overflow.
  const uint64_t largest_put = limits.max_key_bytes + limits.max_value_bytes + kFrameOverheadBytes;
  if (limits.max_frame_bytes < largest_put) {
    const Field field =
        Blame(entries, std::array<std::string_view, 3>{"max_frame_bytes", "max_value_bytes", "max_key_bytes"},
              section);
    return Invalid(field, "max_frame_bytes (" + FormatSize(limits.max_frame_bytes) +
                              ") is smaller than max_key_bytes + max_value_bytes + 64KiB (" +
                              FormatSize(largest_put) +
                              "); expected a frame that holds a Put of the largest key and value");
  }
  return Status::Ok();
}

Status ReadLimits(const Entries& top, LimitsConfig* limits) {
  const Entry* section = Find(top, "limits");
  if (section == nullptr) return Status::Ok();
  Result<Entries> entries = ReadMap(section->value, section->field, kLimitsKeys);
  if (!entries.ok()) return entries.status();
  // A frame's length header has 4 bytes.
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_frame_bytes", &ReadSize, 1, kMaxU32, &limits->max_frame_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_key_bytes", &ReadSize, 1, kMaxU32, &limits->max_key_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_value_bytes", &ReadSize, 1, kMaxU32, &limits->max_value_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_object_bytes", &ReadSize, 1, kMaxU64, &limits->max_object_bytes));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_siblings", &ReadCount, 1, kMaxU32, &limits->max_siblings));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_connections", &ReadCount, 1, kMaxU32, &limits->max_connections));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*entries, "max_pending_requests", &ReadCount, 1, kMaxU32, &limits->max_pending_requests));
  return CheckLimits(*entries, section->field, *limits);
}

std::string FormatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// A plain number (integer or decimal) within [min, max].
Result<double> ReadNumber(const Entry& entry, double min, double max) {
  const std::string expected = "a number from " + FormatNumber(min) + " to " + FormatNumber(max);
  if (!entry.value.IsScalar() || IsQuoted(entry.value)) {
    return Invalid(entry.field, "expected " + expected + ", got " + Describe(entry.value));
  }
  const std::string& text = entry.value.Scalar();
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(value >= min && value <= max)) {
    return Invalid(entry.field, "expected " + expected + ", got " + Quote(text));
  }
  return value;
}

// The map under `key` of the top level, or an empty map when absent.
Result<Entries> ReadSection(const Entries& top, std::string_view key, KeyList known) {
  const Entry* section = Find(top, key);
  if (section == nullptr) return Entries{};
  return ReadMap(section->value, section->field, known);
}

// Cluster membership: the cluster's name, this node's location, its vnodes,
// the gossip cadence and the failure detector's threshold.
Status ReadMembership(const Entries& top, Config* config) {
  MembershipConfig& m = config->membership;
  if (const Entry* name = Find(top, "cluster_name")) {
    Result<std::string> value = ReadText(*name, "a cluster name");
    if (!value.ok()) return value.status();
    if (value->empty() || value->size() > 64) return Invalid(name->field, "expected 1 to 64 characters");
    m.cluster_name = *value;
  }
  Result<Entries> location = ReadSection(top, "location", kLocationKeys);
  if (!location.ok()) return location.status();
  for (auto [key, out] : {std::pair{"datacenter", &m.datacenter}, std::pair{"rack", &m.rack}}) {
    if (const Entry* entry = Find(*location, key)) {
      Result<std::string> value = ReadText(*entry, "a name");
      if (!value.ok()) return value.status();
      *out = *value;
    }
  }
  Result<Entries> ring = ReadSection(top, "ring", kRingKeys);
  if (!ring.ok()) return ring.status();
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*ring, "vnodes", &ReadCount, 1, 4096, &m.vnodes));
  Result<Entries> gossip = ReadSection(top, "gossip", kGossipKeys);
  if (!gossip.ok()) return gossip.status();
  DYNKV_RETURN_IF_ERROR(SetIfPresent(*gossip, "interval_ms", &ReadCount, 10, 60'000, &m.gossip_interval_ms));
  Result<Entries> detector = ReadSection(top, "failure_detector", kFailureDetectorKeys);
  if (!detector.ok()) return detector.status();
  if (const Entry* phi = Find(*detector, "phi_threshold")) {
    Result<double> value = ReadNumber(*phi, 1, 100);
    if (!value.ok()) return value.status();
    m.phi_threshold = *value;
  }
  return Status::Ok();
}

Status ReadLogLevel(const Entries& top, Config* config) {
  const Entry* entry = Find(top, "log_level");
  if (entry == nullptr) return Status::Ok();
  constexpr std::string_view kExpected = "debug, info, warn or error";
  Result<std::string> name = ReadText(*entry, kExpected);
  if (!name.ok()) return name.status();
  if (!ParseLogLevel(*name, &config->log_level)) {
    return Invalid(entry->field, "expected " + std::string(kExpected) + ", got " + Quote(*name));
  }
  return Status::Ok();
}

// REQUIRES: root.IsMap()
Result<Config> ReadRoot(const YAML::Node& root) {
  const Field top_field{"", 1};
  Result<Entries> top = ReadMap(root, top_field, kTopKeys);
  if (!top.ok()) return top.status();
  Config config;
  DYNKV_RETURN_IF_ERROR(ReadNodeId(*top, top_field, &config));
  DYNKV_RETURN_IF_ERROR(ReadListen(*top, top_field, &config));
  DYNKV_RETURN_IF_ERROR(ReadDataDir(*top, top_field, &config));
  DYNKV_RETURN_IF_ERROR(ReadSeeds(*top, &config));
  DYNKV_RETURN_IF_ERROR(ReadReplication(*top, &config.replication));
  DYNKV_RETURN_IF_ERROR(ReadStorage(*top, &config));
  DYNKV_RETURN_IF_ERROR(ReadLimits(*top, &config.limits));
  DYNKV_RETURN_IF_ERROR(
      SetIfPresent(*top, "request_timeout", &ReadDurationMs, 1, kMaxU32, &config.request_timeout_ms));
  DYNKV_RETURN_IF_ERROR(ReadLogLevel(*top, &config));
  DYNKV_RETURN_IF_ERROR(ReadMembership(*top, &config));
  DYNKV_RETURN_IF_ERROR(ReadHandoff(*top, &config.handoff));
  return config;
}

// Notes where the second document starts, and nothing else.
class SecondDocumentFinder : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_line_ = mark.is_null() ? 1 : mark.line + 1;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
  }
  void OnMapEnd() override {}

  int second_line() const { return second_line_; }

 private:
  int documents_ = 0;
  int second_line_ = 0;
};

// The line where a second document starts, or 0 when there is one. Asks
// the parser for two documents at most: yaml-cpp 0.7's LoadAll never
// returns on some invalid input, e.g. a lone "," (jbeder/yaml-cpp#1040,
// fixed upstream by PR #1319).
int SecondDocumentLine(const std::string& text) {
  std::istringstream input(text);
  YAML::Parser parser(input);
  SecondDocumentFinder finder;
  if (!parser.HandleNextDocument(finder) || !parser.HandleNextDocument(finder)) return 0;
  return finder.second_line();
}

// Parses and reads the text; messages lack only the "<source>:" prefix.
Result<Config> ReadDocument(std::string_view text) {
  try {
    const std::string yaml(text);
    const YAML::Node root = YAML::Load(yaml);  // the first document only
    if (!root.IsMap()) {
      return Invalid({"document", LineOf(root, 1)},
                     "expected a map of settings (key: value lines), got " + Describe(root));
    }
    if (const int line = SecondDocumentLine(yaml); line != 0) {
      return Invalid({"document", line}, "a second YAML document starts here; expected exactly one document");
    }
    return ReadRoot(root);
  } catch (const YAML::Exception& e) {
    return Invalid({"yaml", e.mark.is_null() ? 1 : e.mark.line + 1},
                   "invalid YAML (" + e.msg + "); expected 'key: value' lines, check indentation and quotes");
  } catch (const std::exception& e) {  // yaml-cpp may also throw standard exceptions (e.g. bad_alloc)
    return Invalid({"yaml", 1}, std::string("cannot parse the file (") + e.what() + "); expected a YAML map");
  }
}

Status CannotRead(const std::string& path, std::string_view why) {
  return Status::InvalidArgument("cannot read config file " + path + ": " + std::string(why));
}

Result<std::string> ReadConfigFile(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) return CannotRead(path, std::generic_category().message(errno));
  std::string text;
  char buffer[8192];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, file.get())) {
    text.append(buffer, n);
    if (text.size() > kMaxConfigFileBytes) {
      return CannotRead(path, "larger than 1MiB; expected a small YAML file");
    }
  }
  // A directory opens fine on Linux; reading it fails with EISDIR.
  if (std::ferror(file.get())) return CannotRead(path, std::generic_category().message(errno));
  return text;
}

}  // namespace

Result<Config> ParseConfig(std::string_view yaml_text, std::string_view source) {
  Result<Config> config = ReadDocument(yaml_text);
  if (!config.ok()) return Status::InvalidArgument(std::string(source) + ":" + config.status().message());
  config->source = std::string(source);
  return config;
}

Result<Config> LoadConfigFile(const std::string& path) {
  Result<std::string> text = ReadConfigFile(path);
  if (!text.ok()) return text.status();
  return ParseConfig(*text, path);
}

}  // namespace dynkv::node
