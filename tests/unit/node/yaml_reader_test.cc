#include "node/yaml_reader.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace dynkv::node::yaml {
namespace {

// A schema that is not dynkv's, three levels deep in one place.
constexpr std::string_view kPaths[] = {"name", "pool.size", "pool.timeout", "pool.retry.limit", "tags"};

// Reads `text` with `read`; the Status as ReadDocument returns it.
Status ReadWith(std::string_view text, const std::function<Status(Document&)>& read) {
  return ReadDocument(text, "s.yaml", kPaths, read);
}

// The message of a document that `read` (or the reader) must refuse.
std::string Refused(std::string_view text, const std::function<Status(Document&)>& read) {
  const Status status = ReadWith(text, read);
  INFO(text);
  REQUIRE_FALSE(status.ok());
  CHECK(status.code() == Code::kInvalidArgument);
  return status.message();
}

// Finds `path` and reads it with `read_value` when present.
template <typename ReadValue>
std::function<Status(Document&)> Reading(std::string_view path, ReadValue read_value) {
  return [path, read_value](Document& document) -> Status {
    Result<const Entry*> entry = document.Find(path);
    if (!entry.ok()) return entry.status();
    if (*entry == nullptr) return Status::Ok();
    auto value = read_value(**entry);
    return value.ok() ? Status::Ok() : value.status();
  };
}

// Finds every known path, so every map is opened and checked.
Status FindAll(Document& document) {
  for (std::string_view path : kPaths) {
    Result<const Entry*> entry = document.Find(path);
    if (!entry.ok()) return entry.status();
  }
  return Status::Ok();
}

TEST_CASE("each map knows the keys the paths give it, at any depth") {
  CHECK(ReadWith("name: a\npool: {size: 1, retry: {limit: 2}}\n", FindAll).ok());
  CHECK(Refused("name: a\nnmae: b\n", FindAll) == "s.yaml:2: nmae: unknown key; did you mean 'name'?");
  CHECK(Refused("colour: red\n", FindAll) ==
        "s.yaml:1: colour: unknown key; expected one of name, pool, tags");
  CHECK(Refused("pool:\n  sizes: 1\n", FindAll) == "s.yaml:2: pool.sizes: unknown key; did you mean 'size'?");
  CHECK(Refused("pool:\n  retry:\n    limits: 1\n", FindAll) ==
        "s.yaml:3: pool.retry.limits: unknown key; did you mean 'limit'?");
  CHECK(Refused("pool: {depth: 1}\n", FindAll) ==
        "s.yaml:1: pool.depth: unknown key; expected one of size, timeout, retry");
  CHECK(Refused("pool: 3\n", FindAll) == "s.yaml:1: pool: expected a map of size, timeout, retry, got '3'");
  CHECK(Refused("pool: {size: 1}\n\npool: {size: 2}\n", FindAll) ==
        "s.yaml:3: pool: given twice (also on line 1); each key may appear once");
  CHECK(Refused("pool: {[a]: 1}\n", FindAll) ==
        "s.yaml:1: pool: keys must be plain names; expected one of size, timeout, retry");
}

TEST_CASE("a map that is absent or empty has no entries") {
  for (std::string_view text : {"name: a\n", "name: a\npool:\n", "name: a\npool:\n  # size: 3\n"}) {
    const Entry* found = nullptr;
    CHECK(ReadWith(text, [&found](Document& document) {
            Result<const Entry*> entry = document.Find("pool.retry.limit");
            if (entry.ok()) found = *entry;
            return entry.ok() ? Status::Ok() : entry.status();
          }).ok());
    CHECK(found == nullptr);
  }
}

TEST_CASE("a missing required key is reported at the map that should hold it") {
  const auto require = [](std::string_view path) {
    return [path](Document& document) -> Status {
      Result<const Entry*> entry = document.Require(path, "a thing");
      return entry.ok() ? Status::Ok() : entry.status();
    };
  };
  CHECK(Refused("tags: []\n", require("name")) == "s.yaml:1: name: missing required field; expected a thing");
  CHECK(Refused("name: a\n\npool:\n  size: 1\n", require("pool.timeout")) ==
        "s.yaml:3: pool.timeout: missing required field; expected a thing");
  // No pool at all: the closest map the file has is the document.
  CHECK(Refused("name: a\n", require("pool.retry.limit")) ==
        "s.yaml:1: pool.retry.limit: missing required field; expected a thing");
  CHECK(ReadWith("pool: {retry: {limit: 1}}\n", require("pool.retry.limit")).ok());
}

TEST_CASE("a rule between values blames the first one the file sets, else the map's line") {
  std::vector<Field> blamed;
  const Status status = ReadWith("name: a\npool:\n  size: 1\n  timeout: 2s\n", [&blamed](Document& document) {
    DYNKV_RETURN_IF_ERROR(FindAll(document));
    blamed.push_back(document.Blame({"pool.timeout", "pool.size"}));
    blamed.push_back(document.Blame({"pool.retry.limit", "pool.size"}));
    blamed.push_back(document.Blame({"pool.retry.limit"}));
    blamed.push_back(document.Blame({"tags"}));
    return Status::Ok();
  });
  REQUIRE(status.ok());
  REQUIRE(blamed.size() == 4);
  CHECK(blamed[0].path == "pool.timeout");
  CHECK(blamed[0].line == 4);
  CHECK(blamed[1].path == "pool.size");
  CHECK(blamed[1].line == 3);
  CHECK(blamed[2].path == "pool.retry.limit");  // not set: pool's line
  CHECK(blamed[2].line == 2);
  CHECK(blamed[3].path == "tags");  // not set, top level: line 1
  CHECK(blamed[3].line == 1);
}

TEST_CASE("errors from the caller and from the parser name the source") {
  CHECK(Refused("name: a\n", [](Document&) {
          return Invalid({"name", 1}, "not today");
        }) == "s.yaml:1: name: not today");
  CHECK(Refused("", FindAll) ==
        "s.yaml:1: document: expected a map of settings (key: value lines), got nothing");
  CHECK(Refused("- a\n", FindAll).starts_with("s.yaml:1: document: "));
  CHECK(Refused("name: a\n---\nname: b\n", FindAll) ==
        "s.yaml:2: document: a second YAML document starts here; expected exactly one document");
  CHECK(Refused("name: [a\n", FindAll).starts_with("s.yaml:2: yaml: invalid YAML ("));
  CHECK(Refused(",", FindAll).starts_with("s.yaml:1: document: "));
}

TEST_CASE("counts are unquoted whole numbers within bounds") {
  uint64_t size = 0;
  const auto read = Reading("pool.size", [&size](const Entry& entry) {
    Result<uint64_t> value = ReadCount(entry, 2, 10);
    if (value.ok()) size = *value;
    return value;
  });
  CHECK(ReadWith("pool: {size: 10}\n", read).ok());
  CHECK(size == 10);
  CHECK(Refused("pool: {size: 1}\n", read) ==
        "s.yaml:1: pool.size: expected a whole number between 2 and 10, got '1'");
  CHECK(Refused("pool: {size: \"5\"}\n", read) ==
        "s.yaml:1: pool.size: expected a whole number between 2 and 10, got the quoted string '5'; "
        "write numbers without quotes");
  CHECK(Refused("pool: {size: [5]}\n", read) ==
        "s.yaml:1: pool.size: expected a whole number between 2 and 10, got a list");
}

TEST_CASE("sizes and durations take units, and say their range in units") {
  uint64_t bytes = 0;
  const auto size = Reading("pool.size", [&bytes](const Entry& entry) {
    Result<uint64_t> value = ReadSize(entry, 1024, 1ull << 30);
    if (value.ok()) bytes = *value;
    return value;
  });
  CHECK(ReadWith("pool: {size: 1.5KiB}\n", size).ok());
  CHECK(bytes == 1536);
  CHECK(ReadWith("pool: {size: 2 MB}\n", size).ok());
  CHECK(bytes == 2'000'000);
  CHECK(Refused("pool: {size: 1000}\n", size) ==
        "s.yaml:1: pool.size: '1000' is out of range; expected a size between 1KiB and 1GiB");
  CHECK(Refused("pool: {size: 5mib}\n", size)
            .starts_with("s.yaml:1: pool.size: '5mib' is not a size (whole bytes"));

  uint64_t ms = 0;
  const auto duration = Reading("pool.timeout", [&ms](const Entry& entry) {
    Result<uint64_t> value = ReadDurationMs(entry, 1000, 3'600'000);
    if (value.ok()) ms = *value;
    return value;
  });
  CHECK(ReadWith("pool: {timeout: 90}\n", duration).ok());  // a bare number is seconds
  CHECK(ms == 90'000);
  CHECK(ReadWith("pool: {timeout: 0.5h}\n", duration).ok());
  CHECK(ms == 1'800'000);
  CHECK(Refused("pool: {timeout: 2h}\n", duration) ==
        "s.yaml:1: pool.timeout: '2h' is out of range; expected a duration between 1s and 1h");
  CHECK(Refused("pool: {timeout: 1h30m}\n", duration)
            .starts_with("s.yaml:1: pool.timeout: '1h30m' is not a duration (a number with a unit ms"));
}

TEST_CASE("booleans, numbers and text") {
  const auto boolean = Reading("name", [](const Entry& entry) { return ReadBool(entry); });
  CHECK(ReadWith("name: TRUE\n", boolean).ok());
  CHECK(Refused("name: on\n", boolean) == "s.yaml:1: name: expected true or false, got 'on'");
  const auto number = Reading("name", [](const Entry& entry) { return ReadNumber(entry, 0.5, 2); });
  CHECK(ReadWith("name: 1.25\n", number).ok());
  CHECK(Refused("name: 3\n", number) == "s.yaml:1: name: expected a number from 0.5 to 2, got '3'");
  CHECK(Refused("name: \"1\"\n", number) == "s.yaml:1: name: expected a number from 0.5 to 2, got '1'");
  const auto text = Reading("name", [](const Entry& entry) { return ReadText(entry, "a label"); });
  CHECK(ReadWith("name: \"3\"\n", text).ok());
  CHECK(Refused("name: {a: 1}\n", text) == "s.yaml:1: name: expected a label, got a map");
  CHECK(Refused("name:\n", text) == "s.yaml:1: name: expected a label, got nothing");
}

TEST_CASE("list items are named by index and placed at their own line") {
  std::vector<Field> fields;
  const auto list = Reading("tags", [&fields](const Entry& entry) {
    Result<std::vector<Entry>> items = ReadList(entry, "a list of tags");
    if (items.ok()) {
      for (const Entry& item : *items) fields.push_back(item.field);
    }
    return items;
  });
  REQUIRE(ReadWith("name: a\ntags:\n  - x\n  - y\n", list).ok());
  REQUIRE(fields.size() == 2);
  CHECK(fields[1].path == "tags[1]");
  CHECK(fields[1].line == 4);
  fields.clear();
  CHECK(ReadWith("tags:\n", list).ok());
  CHECK(fields.empty());
  CHECK(Refused("tags: x\n", list) == "s.yaml:1: tags: expected a list of tags, got 'x'");
}

TEST_CASE("values in messages are quoted on one line and cut short") {
  CHECK(Quote("a\tb\n") == "'a?b?'");
  CHECK(Quote(std::string(60, 'x')) == "'" + std::string(48, 'x') + "...'");
  CHECK(FormatSize(64 << 10) == "64KiB");
  CHECK(FormatSize(1000) == "1000B");
}

}  // namespace
}  // namespace dynkv::node::yaml
