// A strict reader of small YAML settings files. It knows YAML, dotted paths,
// sizes and durations, and nothing of what the settings mean: the caller
// names every path it accepts, and the reader refuses all others.
//
// Every error is an INVALID_ARGUMENT whose message reads
// "<source>:<line>: <field>: <explanation>" (line 1-based, field the dotted
// path), so an operator can fix a file in one try. Values are read node by
// node (never with yaml-cpp's as<T>()); ReadDocument turns the parser's
// exceptions into a Status at one place.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dynkv::node::yaml {

// Where a value sits: the dotted path an operator reads, and its line.
struct Field {
  std::string path;
  int line = 1;  // 1-based
};

// One value of a map or list. Its line is the value's own when it is a
// scalar (where a bad value is), else the key's (where a list or map begins).
struct Entry {
  YAML::Node value;
  Field field;
};

// The error for `field`, without the "<source>:" that ReadDocument adds.
Status Invalid(const Field& field, std::string_view explanation);
// A value as shown in messages: quoted, on one line, cut short when long.
std::string Quote(std::string_view text);
// "64KiB", "7MiB" or "1000B": the largest binary unit that states it exactly.
std::string FormatSize(uint64_t bytes);

// ---- Typed readers ----------------------------------------------------------
// Each reads one Entry; an error names the entry's field and says what was
// expected.

// A scalar, quoted or not. `expected` completes "expected ..." in errors.
Result<std::string> ReadText(const Entry& entry, std::string_view expected);
// A whole number in [min, max], written without quotes.
Result<uint64_t> ReadCount(const Entry& entry, uint64_t min, uint64_t max);
// true or false (also True, TRUE, False, FALSE); never yes/no/on/off.
Result<bool> ReadBool(const Entry& entry);
// Bytes in [min, max]: whole bytes or a number with a unit (B, KiB, MiB, GiB,
// KB, MB, GB), e.g. "64MiB" or "1.5KiB".
Result<uint64_t> ReadSize(const Entry& entry, uint64_t min, uint64_t max);
// Milliseconds in [min, max]: a number with a unit (ms, s, m, h, d); a bare
// number is seconds.
Result<uint64_t> ReadDurationMs(const Entry& entry, uint64_t min, uint64_t max);
// A plain number (integer or decimal), unquoted, within [min, max].
Result<double> ReadNumber(const Entry& entry, double min, double max);
// The items of a list, each named "<path>[i]" at its own line. A null value
// (the key with nothing after it) is an empty list.
Result<std::vector<Entry>> ReadList(const Entry& entry, std::string_view expected);

// A map whose keys are names of the operator's choosing
// (replication.datacenters), each value named "<path>.<key>"; a key given
// twice or one that is not a plain name is an error. A null value is an
// empty map.
Result<std::map<std::string, Entry, std::less<>>> ReadNamedMap(const Entry& entry, std::string_view expected);

// ---- Documents --------------------------------------------------------------

// The root map of a document, read by dotted path ("storage.cache_bytes").
// Each map is opened on first use and then strict: an unknown key (with a
// did-you-mean when a known one is close), a key given twice, a non-map
// value or a non-scalar key is an error. The known keys of each map are
// derived from the paths the document was built with.
class Document {
 public:
  // `paths` must outlive the Document.
  Document(YAML::Node root, std::span<const std::string_view> paths);

  // The entry at `path`, or nullptr when the file does not set it.
  // REQUIRES: `path` is one of the known paths.
  Result<const Entry*> Find(std::string_view path);
  // Like Find, but a missing entry is an error at the line of the map that
  // should hold it; `expected` completes "expected ...".
  Result<const Entry*> Require(std::string_view path, std::string_view expected);

  // For rules checked after the values are read: the maps of `path` and
  // `paths` must have been opened by Find or Require.
  //
  // The entry at `path`, or nullptr when the file does not set it.
  const Entry* Lookup(std::string_view path) const;
  // The field to blame for a rule between several values: the first of
  // `paths` that the file sets (defaults have no line), else the first path
  // at the line of the map that would hold it.
  Field Blame(std::initializer_list<std::string_view> paths) const;

 private:
  using Entries = std::map<std::string, Entry, std::less<>>;

  // The entries of the map at `path` ("" is the root), or nullptr when the
  // file does not set it.
  Result<const Entries*> OpenMap(std::string_view path);
  // Where the map at `path` is, or its closest ancestor the file sets.
  Field MapField(std::string_view path) const;
  // The known keys of the map at `path`, in the order of the paths.
  std::vector<std::string_view> KnownKeys(std::string_view path) const;

  YAML::Node root_;
  std::span<const std::string_view> paths_;
  std::map<std::string, Entries, std::less<>> maps_;  // by path; stable addresses
};

// Parses `text`, which must be exactly one YAML document holding a map, and
// runs `read` on it. Errors, the parser's and those `read` returns, get
// "<source>:" in front. `paths` are the known paths (see Document).
Status ReadDocument(std::string_view text, std::string_view source, std::span<const std::string_view> paths,
                    const std::function<Status(Document&)>& read);

}  // namespace dynkv::node::yaml
