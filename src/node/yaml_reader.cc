// The strict YAML reader (yaml_reader.h).
#include "node/yaml_reader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

namespace dynkv::node::yaml {
namespace {

constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

int LineOf(const YAML::Node& node, int fallback) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? fallback : mark.line + 1;
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

std::string Join(std::span<const std::string_view> keys) {
  std::string out;
  for (std::string_view key : keys) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

// "storage.cache_bytes" is {"storage", "cache_bytes"}; "node_id" is {"", "node_id"}.
std::pair<std::string_view, std::string_view> SplitPath(std::string_view path) {
  const size_t dot = path.rfind('.');
  if (dot == std::string_view::npos) return {{}, path};
  return {path.substr(0, dot), path.substr(dot + 1)};
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

std::string UnknownKeyHelp(std::string_view key, std::span<const std::string_view> known) {
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

Field Child(const Field& parent, std::string_view key, int line) {
  std::string name = Quote(key);
  name = name.substr(1, name.size() - 2);
  return {parent.path.empty() ? name : parent.path + "." + name, line};
}

// ---- Maps -------------------------------------------------------------------

// The same type as Document::Entries.
using Entries = std::map<std::string, Entry, std::less<>>;

// The entries of `map`, after checking every key against `known` (any
// plain name when `any_key`; `expected` then says what the map holds). A
// null map (a section whose keys are all commented out) has no entries.
Result<Entries> ReadMap(const YAML::Node& map, const Field& where, std::span<const std::string_view> known,
                        bool any_key = false, std::string_view expected = "") {
  Entries entries;
  if (map.IsNull()) return entries;
  const std::string wanted = any_key ? std::string(expected) : "a map of " + Join(known);
  if (!map.IsMap()) return Invalid(where, "expected " + wanted + ", got " + Describe(map));
  // Bound by reference: yaml-cpp's iterator hands out a temporary pair.
  for (const auto& pair : map) {
    const YAML::Node& key_node = pair.first;
    const YAML::Node& value = pair.second;
    const int key_line = LineOf(key_node, where.line);
    if (!key_node.IsScalar()) {
      return Invalid({where.path.empty() ? "document" : where.path, key_line},
                     "keys must be plain names; expected " + (any_key ? wanted : "one of " + Join(known)));
    }
    const std::string key = key_node.Scalar();
    Field field = Child(where, key, key_line);
    if (!any_key && std::find(known.begin(), known.end(), key) == known.end()) {
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

// ---- Quantities -------------------------------------------------------------

// YAML marks a quoted scalar with the non-specific tag "!": it is a string
// even when it looks like a number.
bool IsQuoted(const YAML::Node& node) { return node.Tag() == "!"; }

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

std::string FormatNumber(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// ---- Documents --------------------------------------------------------------

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

// ReadDocument without the "<source>:" in front of errors.
Status ReadRoot(std::string_view text, std::span<const std::string_view> paths,
                const std::function<Status(Document&)>& read) {
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
    Document document(root, paths);
    return read(document);
  } catch (const YAML::Exception& e) {
    return Invalid({"yaml", e.mark.is_null() ? 1 : e.mark.line + 1},
                   "invalid YAML (" + e.msg + "); expected 'key: value' lines, check indentation and quotes");
  } catch (const std::exception& e) {  // yaml-cpp may also throw standard exceptions (e.g. bad_alloc)
    return Invalid({"yaml", 1}, std::string("cannot parse the file (") + e.what() + "); expected a YAML map");
  }
}

}  // namespace

Status Invalid(const Field& field, std::string_view explanation) {
  return Status::InvalidArgument(std::to_string(field.line) + ": " + field.path + ": " +
                                 std::string(explanation));
}

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

std::string FormatSize(uint64_t bytes) {
  constexpr std::array<Unit, 3> kBinary = {{{"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}}};
  return FormatExact(bytes, kBinary, "B");
}

Result<std::string> ReadText(const Entry& entry, std::string_view expected) {
  if (!entry.value.IsScalar()) {
    return Invalid(entry.field, "expected " + std::string(expected) + ", got " + Describe(entry.value));
  }
  return entry.value.Scalar();
}

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

Result<std::vector<Entry>> ReadList(const Entry& entry, std::string_view expected) {
  std::vector<Entry> items;
  if (entry.value.IsNull()) return items;
  if (!entry.value.IsSequence()) {
    return Invalid(entry.field, "expected " + std::string(expected) + ", got " + Describe(entry.value));
  }
  for (const YAML::Node& node : entry.value) {
    Field field{entry.field.path + "[" + std::to_string(items.size()) + "]", LineOf(node, entry.field.line)};
    items.push_back({node, std::move(field)});
  }
  return items;
}

Result<std::map<std::string, Entry, std::less<>>> ReadNamedMap(const Entry& entry, std::string_view expected) {
  return ReadMap(entry.value, entry.field, {}, true, expected);
}

Document::Document(YAML::Node root, std::span<const std::string_view> paths)
    : root_(std::move(root)), paths_(paths) {}

Result<const Entry*> Document::Find(std::string_view path) {
  const auto [parent, key] = SplitPath(path);
  Result<const Entries*> map = OpenMap(parent);
  if (!map.ok()) return map.status();
  if (*map == nullptr) return static_cast<const Entry*>(nullptr);
  auto it = (*map)->find(key);
  return it == (*map)->end() ? nullptr : &it->second;
}

Result<const Entry*> Document::Require(std::string_view path, std::string_view expected) {
  Result<const Entry*> entry = Find(path);
  if (!entry.ok() || *entry != nullptr) return entry;
  return Invalid({std::string(path), MapField(SplitPath(path).first).line},
                 "missing required field; expected " + std::string(expected));
}

const Entry* Document::Lookup(std::string_view path) const {
  const auto [parent, key] = SplitPath(path);
  auto map = maps_.find(parent);
  if (map == maps_.end()) return nullptr;
  auto it = map->second.find(key);
  return it == map->second.end() ? nullptr : &it->second;
}

Field Document::Blame(std::initializer_list<std::string_view> paths) const {
  for (std::string_view path : paths) {
    if (const Entry* entry = Lookup(path)) return entry->field;
  }
  const std::string_view first = *paths.begin();
  return {std::string(first), MapField(SplitPath(first).first).line};
}

Result<const Document::Entries*> Document::OpenMap(std::string_view path) {
  if (auto it = maps_.find(path); it != maps_.end()) return &it->second;
  Entry map{root_, {"", 1}};
  if (!path.empty()) {
    Result<const Entry*> entry = Find(path);
    if (!entry.ok()) return entry.status();
    if (*entry == nullptr) return static_cast<const Entries*>(nullptr);
    map = **entry;
  }
  Result<Entries> entries = ReadMap(map.value, map.field, KnownKeys(path));
  if (!entries.ok()) return entries.status();
  return &maps_.emplace(std::string(path), std::move(*entries)).first->second;
}

Field Document::MapField(std::string_view path) const {
  if (path.empty()) return {"", 1};
  if (const Entry* entry = Lookup(path)) return entry->field;
  return MapField(SplitPath(path).first);
}

std::vector<std::string_view> Document::KnownKeys(std::string_view path) const {
  std::vector<std::string_view> keys;
  for (std::string_view known : paths_) {
    if (!path.empty()) {
      if (known.size() <= path.size() || !known.starts_with(path) || known[path.size()] != '.') continue;
      known.remove_prefix(path.size() + 1);
    }
    known = known.substr(0, known.find('.'));
    if (std::find(keys.begin(), keys.end(), known) == keys.end()) keys.push_back(known);
  }
  return keys;
}

Status ReadDocument(std::string_view text, std::string_view source, std::span<const std::string_view> paths,
                    const std::function<Status(Document&)>& read) {
  const Status status = ReadRoot(text, paths, read);
  if (status.ok()) return status;
  return {status.code(), std::string(source) + ":" + status.message()};
}

}  // namespace dynkv::node::yaml
