// The LevelDB Engine (storage.h). Layout in keys.h, record bytes in
// record.h. Every LevelDB status is turned into a Status here, once.
#include <leveldb/db.h>
#include <leveldb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/log.h"
#include "storage/keys.h"
#include "storage/leveldb_setup.h"
#include "storage/lru_cache.h"
#include "storage/record.h"
#include "storage/storage.h"
#include "storage/write_gate.h"

namespace dynkv::storage {

namespace {

constexpr std::string_view kFormatMeta = "format";
constexpr std::string_view kFormatValue = "dynkv-1";

leveldb::Slice AsSlice(std::string_view bytes) { return leveldb::Slice(bytes.data(), bytes.size()); }
std::string_view AsView(const leveldb::Slice& slice) { return std::string_view(slice.data(), slice.size()); }

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

// LevelDB reports a held lock as an IO error on the LOCK file: "already held
// by process" from within this process, EAGAIN from fcntl for another one.
bool IsLockHeld(const leveldb::Status& status) {
  const std::string text = status.ToString();
  return status.IsIOError() && Contains(text, "LOCK") &&
         (Contains(text, "already held") || Contains(text, "Resource temporarily unavailable"));
}

Status OpenError(const std::string& dir, const leveldb::Status& status) {
  const std::string text = status.ToString();
  std::string message = "data dir " + dir;
  if (IsLockHeld(status)) {
    message += Contains(text, "already held") ? " is in use: it is already open in this process"
                                              : " is in use by another process";
    message += " (" + text + ")";
  } else if (status.IsCorruption() || status.IsNotFound()) {
    message += " is corrupt: " + text + "; move it aside and let the node refill it from its replicas";
  } else if (IsNoSpace(status)) {
    message += " is full: " + text + "; free space there and start the node again";
  } else if (Contains(text, "Permission denied")) {
    message += " is not accessible: " + text;
  } else {
    message += " cannot be opened: " + text;
  }
  return Status::StorageError(std::move(message));
}

Status PrepareDir(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::StorageError("data dir " + dir + " cannot be created: " + error.message());
  if (!std::filesystem::is_directory(dir, error)) {
    return Status::StorageError("data dir " + dir + " is not a directory");
  }
  return Status::Ok();
}

// Without CURRENT, LevelDB would start a new database and delete the tables
// and logs it finds as obsolete; refuse instead when any are there.
Status CheckNoOrphanedData(const std::string& dir) {
  std::error_code error;
  if (std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", error)) return Status::Ok();
  // increment(error) rather than a range-for, whose ++ throws.
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string extension = it->path().extension().string();
    if (extension == ".ldb" || extension == ".sst" || extension == ".log") {
      return Status::StorageError("data dir " + dir + " is corrupt: it holds " +
                                  it->path().filename().string() +
                                  " but no CURRENT file; restore CURRENT or move the dir aside");
    }
  }
  if (error) return Status::StorageError("data dir " + dir + " cannot be listed: " + error.message());
  return Status::Ok();
}

struct Counters {
  std::atomic<uint64_t> gets{0};
  std::atomic<uint64_t> write_batches{0};
  std::atomic<uint64_t> objects_written{0};
  std::atomic<uint64_t> values_compressed{0};
  std::atomic<uint64_t> bytes_before_compression{0};
  std::atomic<uint64_t> bytes_after_compression{0};
  std::atomic<uint64_t> records_reaped{0};
  std::atomic<uint64_t> siblings_reaped{0};
  std::atomic<uint64_t> reap_records_scanned{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> reopens{0};
};

void Add(std::atomic<uint64_t>& counter, uint64_t n) { counter.fetch_add(n, std::memory_order_relaxed); }

uint64_t Load(const std::atomic<uint64_t>& counter) { return counter.load(std::memory_order_relaxed); }

// Drops the siblings Reap may remove: expired at or before cutoff_ms, and
// tombstones written at or before it. Returns how many it dropped.
size_t DropReapable(Object* object, int64_t cutoff_ms) {
  auto reapable = [cutoff_ms](const Sibling& s) {
    return (s.expires_at_ms != 0 && s.expires_at_ms <= cutoff_ms) ||
           (s.tombstone && s.write_time_ms <= cutoff_ms);
  };
  const size_t before = object->siblings.size();
  std::erase_if(object->siblings, reapable);
  return before - object->siblings.size();
}

// The earliest reap cutoff at which Reap may drop a sibling of `object`:
// its expiry, or a tombstone's write time; kNever when it has neither.
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t ReapableFrom(const Object& object) {
  int64_t from = kNever;
  for (const Sibling& s : object.siblings) {
    if (s.expires_at_ms != 0) from = std::min(from, s.expires_at_ms);
    if (s.tombstone) from = std::min(from, s.write_time_ms);
  }
  return from;
}

// Reap's cursor: the pass number (8 bytes big-endian), then the last data
// key scanned. The number tells a pass's end apart from an older pass's.
constexpr size_t kPassBytes = 8;

std::string ReapCursor(uint64_t pass, std::string_view last_key) {
  std::string cursor;
  PutFixed64BE(&cursor, pass);
  cursor.append(last_key);
  return cursor;
}

// Decodes the hint at `it`; false (after logging) when it is corrupt.
bool ReadHintAt(const leveldb::Iterator& it, Hint* hint, ZstdCodec* zstd) {
  std::string_view target;
  std::string_view user_key;
  if (!ParseHintKey(AsView(it.key()), &target, &user_key)) {
    DYNKV_LOG(kWarn) << "skipping a malformed hint key " << PrintableKey(AsView(it.key()));
    return false;
  }
  if (Status decoded = DecodeHintRecord(AsView(it.value()), hint, zstd); !decoded.ok()) {
    DYNKV_LOG(kWarn) << "skipping the corrupt hint for " << PrintableKey(target) << " of key "
                     << PrintableKey(user_key) << ": " << decoded.message();
    return false;
  }
  hint->target.assign(target);
  hint->key.assign(user_key);
  return true;
}

// Decodes the data record of `user_key`; false (after logging, naming the
// `scan` that skips it) when it is corrupt.
bool DecodeDataRecord(std::string_view scan, std::string_view user_key, const leveldb::Slice& record,
                      Object* object, ZstdCodec* zstd) {
  if (Status decoded = DecodeRecord(AsView(record), object, zstd); !decoded.ok()) {
    DYNKV_LOG(kWarn) << scan << " skips the corrupt record of key " << PrintableKey(user_key) << ": "
                     << decoded.message();
    return false;
  }
  return true;
}

// Decodes the data record at `it` for a range scan; false (after logging)
// when its key is malformed or its record corrupt.
bool ReadDataAt(const leveldb::Iterator& it, ObjectWrite* write, ZstdCodec* zstd) {
  uint64_t position = 0;
  std::string_view user_key;
  if (!ParseDataKey(AsView(it.key()), &position, &user_key)) {
    DYNKV_LOG(kWarn) << "range scan skips a malformed data key " << PrintableKey(AsView(it.key()));
    return false;
  }
  if (!DecodeDataRecord("range scan", user_key, it.value(), &write->object, zstd)) return false;
  write->key.assign(user_key);
  return true;
}

// The first LevelDB key of the data kind, and the first key after it.
std::string DataKindBegin() { return std::string(1, kDataKeyKind); }
std::string DataKindEnd() { return PrefixSuccessor(DataKindBegin()); }

// The smallest LevelDB key of a data record at a ring position after
// `position` (keys.h: 'd' + 8-byte big-endian position + user key).
std::string DataKeysAfter(uint64_t position) {
  if (position == std::numeric_limits<uint64_t>::max()) return DataKindEnd();
  std::string key = DataKindBegin();
  PutFixed64BE(&key, position + 1);
  return key;
}

// A half-open interval [begin, end) of LevelDB keys.
struct KeySpan {
  std::string begin;
  std::string end;
  bool Holds(std::string_view key) const { return key >= begin && key < end; }
};

// Positions `it` at the first key at or after `begin` that comes after
// `cursor` (the last key an earlier batch read; empty: none).
void SeekAfter(leveldb::Iterator& it, std::string_view begin, std::string_view cursor) {
  it.Seek(AsSlice(std::max(begin, cursor)));
  if (!cursor.empty() && it.Valid() && AsView(it.key()) == cursor) it.Next();
}

size_t BatchBytes(const Hint& hint) { return hint.ApproximateBytes(); }
size_t BatchBytes(const ObjectWrite& write) { return write.key.size() + write.object.ApproximateBytes(); }

// One batch of a bounded scan (ScanHints, ScanRange): up to max_count
// items, stopping once they hold max_bytes; the first goes even when bigger,
// so every batch makes progress.
template <typename T>
struct ScanBatch {
  ScanBatch(size_t max_bytes, size_t max_count) : max_bytes(max_bytes), max_count(max_count) {}

  const size_t max_bytes;
  const size_t max_count;
  std::vector<T> items;
  size_t bytes = 0;
  std::string last_key;  // the last key read, returned or skipped as corrupt

  bool full() const { return items.size() == max_count || (!items.empty() && bytes >= max_bytes); }
};

// Reads records from `it` on while their keys are below `end`, decoding
// each with read(it, &item) (false: skip it), until the batch is full.
// True when it stopped at a record below `end`: the scan has more.
template <typename T, typename Read>
bool ReadBatch(leveldb::Iterator& it, std::string_view end, Read read, ScanBatch<T>* batch) {
  for (; it.Valid() && AsView(it.key()) < end; it.Next()) {
    if (batch->full()) return true;
    batch->last_key.assign(AsView(it.key()));
    T item;
    if (!read(it, &item)) continue;
    batch->bytes += BatchBytes(item);
    batch->items.push_back(std::move(item));
  }
  return false;
}

// Forgets the cached record of a data key (other keys are not cached).
void EraseDataKey(RecordCache* cache, const leveldb::Slice& key) {
  uint64_t position = 0;
  std::string_view user_key;
  if (ParseDataKey(AsView(key), &position, &user_key)) cache->Erase(user_key);
}

// Brings the record cache up to date with a written batch.
class CacheUpdater final : public leveldb::WriteBatch::Handler {
 public:
  explicit CacheUpdater(RecordCache* cache) : cache_(cache) {}
  void Put(const leveldb::Slice& key, const leveldb::Slice& record) override {
    uint64_t position = 0;
    std::string_view user_key;
    if (ParseDataKey(AsView(key), &position, &user_key)) cache_->UpdateWritten(user_key, AsView(record));
  }
  void Delete(const leveldb::Slice& key) override { EraseDataKey(cache_, key); }

 private:
  RecordCache* const cache_;
};

// Drops the data keys of a batch that failed from the record cache: what the
// database holds for them is known again only once it is reopened (a batch
// whose sync failed may be in the log and replay then).
class CacheEraser final : public leveldb::WriteBatch::Handler {
 public:
  explicit CacheEraser(RecordCache* cache) : cache_(cache) {}
  void Put(const leveldb::Slice& key, const leveldb::Slice&) override { EraseDataKey(cache_, key); }
  void Delete(const leveldb::Slice& key) override { EraseDataKey(cache_, key); }

 private:
  RecordCache* const cache_;
};

class LevelDbEngine final : public Engine {
 public:
  LevelDbEngine(const Options& options, LevelDbSetup setup, std::unique_ptr<leveldb::DB> db)
      : dir_(options.data_dir),
        setup_(std::move(setup)),
        db_(std::move(db)),
        cache_(options.cache_bytes),
        compression_{options.compress_min_bytes, options.compress_level},
        gate_(options.data_dir, options.reopen_interval_ms) {
    write_options_.sync = options.sync;
  }

  Result<Object> Get(std::string_view key) override;
  bool GetCached(std::string_view key, Object* object) override;
  Status Write(std::span<const ObjectWrite> writes) override;
  Result<std::string> GetMeta(std::string_view name) override;
  Status PutMeta(std::string_view name, std::string_view value) override;
  Status Reap(std::string* cursor, size_t max_records, int64_t now_ms, int64_t grace_ms) override;
  StorageStats Stats() const override;
  Result<Hint> GetHint(std::string_view target, std::string_view key) override;
  Status WriteHints(std::span<const Hint> hints) override;
  Result<std::vector<Hint>> ScanHints(std::string_view target, std::string* cursor, size_t max_bytes,
                                      size_t max_count) override;
  Result<std::vector<std::string>> ListHintTargets() override;
  Result<std::vector<ObjectWrite>> ScanRange(uint64_t start, uint64_t end, std::string* cursor,
                                             size_t max_bytes, size_t max_count) override;
  Result<uint64_t> CountHints() override;
  Status RetryWrites() override;
  bool writes_refused() const override { return gate_.refused(); }

  // Stamps a new (empty) database with the dynkv format; refuses a database
  // that holds anything and is not stamped.
  Status CheckFormat();

 private:
  enum class Access { kRead, kWrite };
  // OK when the database serves a read (or a write) now. While writes are
  // refused, first reopens it when the retry interval allows.
  Status Usable(Access access);
  // Every LevelDB write goes through here: a failure refuses later writes.
  Status Commit(const leveldb::WriteOptions& options, leveldb::WriteBatch* batch, std::string_view what);
  // Closes and reopens the database when the disk has room (storage.h:
  // RetryWrites). On failure the database stays closed.
  Status Reopen();
  Status ReadFromDb(std::string_view key, Object* object);
  bool HoldsAnyKey();
  void NoteWritten(const Object& object);

  // Expiry bookkeeping, so that a pass when nothing can expire reads nothing.
  // Invariant: no stored sibling is reapable at a cutoff before
  // reap_.reapable_from (kUnknown at open: the data dir was written before).
  static constexpr int64_t kUnknown = std::numeric_limits<int64_t>::min();
  struct ReapState {
    int64_t reapable_from = kUnknown;
    uint64_t pass = 0;                 // the latest pass started, from 1
    int64_t found_in_pass = kNever;    // of the records the latest pass scanned
    int64_t written_in_pass = kNever;  // of the objects written since it started
  };

  const std::string dir_;
  // LevelDB uses the env, block cache and filter policy until db_ is
  // closed, so they are declared before it and destroyed after it.
  LevelDbSetup setup_;
  std::unique_ptr<leveldb::DB> db_;
  RecordCache cache_;
  ZstdCodec zstd_;
  const CompressionOptions compression_;
  leveldb::WriteOptions write_options_;
  std::string record_;       // encode buffer, reused
  std::string hint_record_;  // encode buffer of hint records, reused
  std::string data_key_;     // Get's LevelDB key, reused
  std::string read_buffer_;  // Get's record, reused
  std::string cached_record_;  // Get's cached record, reused
  // GetCached's own, as it runs on another thread than the other calls.
  std::string owner_record_;
  ZstdCodec owner_zstd_;
  ReapState reap_;
  Counters counters_;
  WriteGate gate_;
  Status closed_;  // what reads answer while a failed reopen left db_ null
};

Status LevelDbEngine::Usable(Access access) {
  if (db_ != nullptr && (access == Access::kRead || !gate_.refused())) return Status::Ok();
  if (gate_.RetryDue() && Reopen().ok()) return Status::Ok();
  return db_ == nullptr ? closed_ : gate_.refusal();
}

Status LevelDbEngine::Commit(const leveldb::WriteOptions& options, leveldb::WriteBatch* batch,
                             std::string_view what) {
  DYNKV_RETURN_IF_ERROR(Usable(Access::kWrite));
  const leveldb::Status status = db_->Write(options, batch);
  if (status.ok()) return Status::Ok();
  Add(counters_.write_errors, 1);
  return gate_.Refuse(what, status);
}

Status LevelDbEngine::RetryWrites() {
  if (!gate_.refused()) return Status::Ok();
  return Reopen();
}

Status LevelDbEngine::Reopen() {
  DYNKV_RETURN_IF_ERROR(gate_.StartAttempt());
  db_.reset();  // waits for a compaction under way; what was acknowledged is in the log
  leveldb::DB* raw_db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(setup_.options, dir_, &raw_db);
  db_.reset(raw_db);
  if (!status.ok()) {
    Status closed =
        Status::StorageError("data dir " + dir_ + " is closed: reopening its database after a failed write " +
                             "failed (" + status.ToString() + "); retried every second");
    if (closed.message() != closed_.message()) DYNKV_LOG(kWarn) << closed.message();  // once per cause
    closed_ = std::move(closed);
    return closed_;
  }
  Add(counters_.reopens, 1);
  gate_.Reopened();
  return Status::Ok();
}

Result<Object> LevelDbEngine::Get(std::string_view key) {
  Add(counters_.gets, 1);
  Object object;
  if (cache_.Lookup(key, &cached_record_)) {
    // A cached record was decoded (or encoded) before, so it decodes again.
    if (DecodeRecord(cached_record_, &object, &zstd_).ok()) return object;
    cache_.Erase(key);
  }
  DYNKV_RETURN_IF_ERROR(ReadFromDb(key, &object));
  if (!object.empty()) cache_.AdmitRead(key, read_buffer_);
  return object;
}

bool LevelDbEngine::GetCached(std::string_view key, Object* object) {
  // A miss is counted by the Get that follows it.
  if (!cache_.Lookup(key, &owner_record_, /*count_miss=*/false)) return false;
  Object decoded;
  if (!DecodeRecord(owner_record_, &decoded, &owner_zstd_).ok()) return false;  // Get will drop it
  Add(counters_.gets, 1);
  *object = std::move(decoded);
  return true;
}

// Leaves the record read in read_buffer_.
Status LevelDbEngine::ReadFromDb(std::string_view key, Object* object) {
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  SetDataKey(key, &data_key_);
  const leveldb::Status status = db_->Get(leveldb::ReadOptions(), data_key_, &read_buffer_);
  if (status.IsNotFound()) return Status::Ok();
  if (!status.ok()) {
    return Status::StorageError("read of key " + PrintableKey(key) + " failed: " + status.ToString());
  }
  if (Status decoded = DecodeRecord(read_buffer_, object, &zstd_); !decoded.ok()) {
    return Status::StorageError("corrupt record for key " + PrintableKey(key) + ": " + decoded.message());
  }
  return Status::Ok();
}

Status LevelDbEngine::Write(std::span<const ObjectWrite> writes) {
  if (writes.empty()) return Status::Ok();
  leveldb::WriteBatch batch;
  CompressionStats compressed;
  for (const ObjectWrite& write : writes) {
    SetDataKey(write.key, &data_key_);
    if (write.object.empty()) {
      batch.Delete(data_key_);
      continue;
    }
    if (Status valid = CheckObject(write.object); !valid.ok()) {
      return valid.WithContext("write of key " + PrintableKey(write.key));
    }
    EncodeRecord(write.object, compression_, &record_, &compressed, &zstd_);
    batch.Put(data_key_, record_);
    NoteWritten(write.object);
  }
  if (Status committed = Commit(write_options_, &batch, "write"); !committed.ok()) {
    CacheEraser eraser(&cache_);
    static_cast<void>(batch.Iterate(&eraser));
    return committed;
  }
  // The batch holds every record just encoded; the cache takes them from it
  // in batch order, so a key written twice ends with its last record.
  CacheUpdater updater(&cache_);
  static_cast<void>(batch.Iterate(&updater));
  Add(counters_.write_batches, 1);
  Add(counters_.objects_written, writes.size());
  Add(counters_.values_compressed, compressed.values_compressed);
  Add(counters_.bytes_before_compression, compressed.bytes_before);
  Add(counters_.bytes_after_compression, compressed.bytes_after);
  return Status::Ok();
}

Result<std::string> LevelDbEngine::GetMeta(std::string_view name) {
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  std::string value;
  const leveldb::Status status = db_->Get(leveldb::ReadOptions(), MetaKey(name), &value);
  if (status.IsNotFound()) return Status::NotFound("no meta value " + std::string(name));
  if (!status.ok()) {
    return Status::StorageError("read of meta " + std::string(name) + " failed: " + status.ToString());
  }
  return value;
}

Status LevelDbEngine::PutMeta(std::string_view name, std::string_view value) {
  leveldb::WriteOptions options;
  options.sync = true;  // identity and epoch must survive a power loss
  leveldb::WriteBatch batch;
  batch.Put(MetaKey(name), AsSlice(value));
  return Commit(options, &batch, "write of meta " + std::string(name));
}

void LevelDbEngine::NoteWritten(const Object& object) {
  const int64_t from = ReapableFrom(object);
  reap_.reapable_from = std::min(reap_.reapable_from, from);
  reap_.written_in_pass = std::min(reap_.written_in_pass, from);
}

Status LevelDbEngine::Reap(std::string* cursor, size_t max_records, int64_t now_ms, int64_t grace_ms) {
  if (max_records == 0) return Status::Ok();
  DYNKV_RETURN_IF_ERROR(Usable(Access::kWrite));
  const int64_t cutoff_ms = now_ms - grace_ms;
  uint64_t pass = 0;      // 0: a cursor this engine did not make
  std::string after_key;  // the last data key the previous call scanned
  if (cursor->empty()) {
    if (cutoff_ms < reap_.reapable_from) return Status::Ok();  // nothing can expire yet
    reap_.pass += 1;
    reap_.found_in_pass = kNever;
    reap_.written_in_pass = kNever;
    pass = reap_.pass;
  } else if (cursor->size() > kPassBytes) {
    pass = DecodeFixed64BE(cursor->data());
    after_key = cursor->substr(kPassBytes);
  }
  leveldb::ReadOptions scan;
  scan.fill_cache = false;  // a background pass must not evict the hot blocks
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  SeekAfter(*it, DataKindBegin(), after_key);

  leveldb::WriteBatch batch;
  std::vector<std::string> changed;  // user keys whose records change
  std::vector<std::pair<uint64_t, uint64_t>> digests;  // of `changed`, before and after, for observer_
  uint64_t records_deleted = 0;
  uint64_t siblings_removed = 0;
  std::string last_scanned;
  bool more = false;
  size_t scanned = 0;
  for (; it->Valid(); it->Next(), ++scanned) {
    uint64_t position = 0;
    std::string_view user_key;
    if (!ParseDataKey(AsView(it->key()), &position, &user_key)) break;
    if (scanned == max_records) {
      more = true;
      break;
    }
    last_scanned.assign(AsView(it->key()));
    Object object;
    if (!DecodeDataRecord("reap", user_key, it->value(), &object, &zstd_)) continue;
    const uint64_t before = observer_ != nullptr ? observer_->Digest(user_key, object) : 0;
    const size_t removed = DropReapable(&object, cutoff_ms);
    // Folded into the latest pass even from an older one: a lower bound
    // only gets more cautious.
    reap_.found_in_pass = std::min(reap_.found_in_pass, ReapableFrom(object));
    if (removed == 0) continue;
    siblings_removed += removed;
    changed.emplace_back(user_key);
    if (object.siblings.empty()) {
      batch.Delete(it->key());
      ++records_deleted;
      if (observer_ != nullptr) digests.push_back({before, 0});
    } else {
      EncodeRecord(object, compression_, &record_, nullptr, &zstd_);
      batch.Put(it->key(), record_);
      if (observer_ != nullptr) digests.push_back({before, observer_->Digest(user_key, object)});
    }
  }
  Add(counters_.reap_records_scanned, scanned);
  if (!it->status().ok()) return Status::StorageError("reap scan failed: " + it->status().ToString());
  DYNKV_RETURN_IF_ERROR(Commit(write_options_, &batch, "reap write"));
  // Reaped records are cold; dropping them keeps the cache for hot keys.
  for (const std::string& key : changed) cache_.Erase(key);
  for (size_t i = 0; i < digests.size(); ++i) observer_->OnChanged(changed[i], digests[i].first, digests[i].second);
  *cursor = more ? ReapCursor(pass, last_scanned) : std::string();
  // A whole pass, with no newer one started meanwhile, saw every record:
  // each was scanned, or written (NoteWritten) after the pass began.
  if (!more && pass != 0 && pass == reap_.pass) {
    reap_.reapable_from = std::min(reap_.found_in_pass, reap_.written_in_pass);
  }
  Add(counters_.records_reaped, records_deleted);
  Add(counters_.siblings_reaped, siblings_removed);
  return Status::Ok();
}

StorageStats LevelDbEngine::Stats() const {
  const CacheStats cache = cache_.stats();
  StorageStats stats;
  stats.gets = Load(counters_.gets);
  stats.cache_hits = cache.hits;
  stats.cache_misses = cache.misses;
  stats.cache_bytes = cache.bytes;
  stats.cache_entries = cache.entries;
  stats.write_batches = Load(counters_.write_batches);
  stats.objects_written = Load(counters_.objects_written);
  stats.values_compressed = Load(counters_.values_compressed);
  stats.bytes_before_compression = Load(counters_.bytes_before_compression);
  stats.bytes_after_compression = Load(counters_.bytes_after_compression);
  stats.records_reaped = Load(counters_.records_reaped);
  stats.siblings_reaped = Load(counters_.siblings_reaped);
  stats.reap_records_scanned = Load(counters_.reap_records_scanned);
  stats.writes_refused = gate_.refused() ? 1 : 0;
  stats.disk_full = gate_.disk_full() ? 1 : 0;
  stats.write_errors = Load(counters_.write_errors);
  stats.reopens = Load(counters_.reopens);
  return stats;
}

Result<Hint> LevelDbEngine::GetHint(std::string_view target, std::string_view key) {
  Hint hint;
  hint.target.assign(target);
  hint.key.assign(key);
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  std::string bytes;
  const leveldb::Status status = db_->Get(leveldb::ReadOptions(), HintKey(target, key), &bytes);
  if (status.IsNotFound()) return hint;
  if (!status.ok()) {
    return Status::StorageError("read of the hint for " + PrintableKey(target) + " of key " +
                                PrintableKey(key) + " failed: " + status.ToString());
  }
  // A corrupt hint reads as absent, so the next Store replaces it; anti-entropy
  // covers what it held.
  if (Status decoded = DecodeHintRecord(bytes, &hint, &zstd_); !decoded.ok()) {
    DYNKV_LOG(kWarn) << "ignoring the corrupt hint for " << PrintableKey(target) << " of key "
                     << PrintableKey(key) << ": " << decoded.message();
    return Hint{hint.target, hint.key, Object(), 0};
  }
  return hint;
}

Status LevelDbEngine::WriteHints(std::span<const Hint> hints) {
  if (hints.empty()) return Status::Ok();
  leveldb::WriteBatch batch;
  for (const Hint& hint : hints) {
    if (hint.object.empty()) {
      batch.Delete(HintKey(hint.target, hint.key));
      continue;
    }
    if (Status valid = CheckObject(hint.object); !valid.ok()) {
      return valid.WithContext("hint for " + PrintableKey(hint.target) + " of key " + PrintableKey(hint.key));
    }
    EncodeHintRecord(hint, compression_, &record_, &hint_record_, &zstd_);
    batch.Put(HintKey(hint.target, hint.key), hint_record_);
  }
  return Commit(write_options_, &batch, "hint write");
}

Result<std::vector<Hint>> LevelDbEngine::ScanHints(std::string_view target, std::string* cursor,
                                                   size_t max_bytes, size_t max_count) {
  ScanBatch<Hint> batch(max_bytes, max_count);
  if (max_count == 0) return std::move(batch.items);
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  const std::string prefix = HintTargetPrefix(target);
  leveldb::ReadOptions scan;
  scan.fill_cache = false;  // hints are read once; keep the blocks of hot data
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  SeekAfter(*it, prefix, *cursor);
  auto read = [this](const leveldb::Iterator& at, Hint* hint) { return ReadHintAt(at, hint, &zstd_); };
  const bool more = ReadBatch(*it, PrefixSuccessor(prefix), read, &batch);
  if (!it->status().ok()) return Status::StorageError("hint scan failed: " + it->status().ToString());
  *cursor = more ? std::move(batch.last_key) : std::string();
  return std::move(batch.items);
}

// The cursor is the last data key read. The spans of a wrapping range are
// disjoint, so the cursor alone tells which one to go on in.
Result<std::vector<ObjectWrite>> LevelDbEngine::ScanRange(uint64_t start, uint64_t end, std::string* cursor,
                                                          size_t max_bytes, size_t max_count) {
  ScanBatch<ObjectWrite> batch(max_bytes, max_count);
  if (max_count == 0) return std::move(batch.items);
  // (start, end] in ring order: one span, or (start, 2^64-1] then [0, end]
  // when it wraps or is the whole ring.
  std::vector<KeySpan> spans;
  if (start < end) {
    spans.push_back({DataKeysAfter(start), DataKeysAfter(end)});
  } else {
    spans.push_back({DataKeysAfter(start), DataKindEnd()});
    spans.push_back({DataKindBegin(), DataKeysAfter(end)});
  }
  size_t first = 0;
  if (!cursor->empty()) {
    while (first < spans.size() && !spans[first].Holds(*cursor)) ++first;
    if (first == spans.size()) {
      return Status::InvalidArgument("range scan cursor " + PrintableKey(*cursor) + " is not in the range");
    }
  }
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  leveldb::ReadOptions scan;
  scan.fill_cache = false;  // a range is streamed once; keep the blocks of hot data
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  auto read = [this](const leveldb::Iterator& at, ObjectWrite* write) {
    return ReadDataAt(at, write, &zstd_);
  };
  bool more = false;
  for (size_t i = first; i < spans.size() && !more; ++i) {
    SeekAfter(*it, spans[i].begin, i == first ? std::string_view(*cursor) : std::string_view());
    more = ReadBatch(*it, spans[i].end, read, &batch);
    if (!it->status().ok()) return Status::StorageError("range scan failed: " + it->status().ToString());
  }
  *cursor = more ? std::move(batch.last_key) : std::string();
  return std::move(batch.items);
}

Result<std::vector<std::string>> LevelDbEngine::ListHintTargets() {
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  std::vector<std::string> targets;
  leveldb::ReadOptions scan;
  scan.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  it->Seek(std::string(1, kHintKeyKind));
  while (it->Valid() && !it->key().empty() && it->key()[0] == kHintKeyKind) {
    std::string_view target;
    std::string_view user_key;
    if (!ParseHintKey(AsView(it->key()), &target, &user_key)) {
      DYNKV_LOG(kWarn) << "skipping a malformed hint key " << PrintableKey(AsView(it->key()));
      it->Next();
      continue;
    }
    targets.emplace_back(target);
    // Jump over the rest of this target's hints.
    it->Seek(PrefixSuccessor(HintTargetPrefix(target)));
  }
  if (!it->status().ok()) return Status::StorageError("hint target scan failed: " + it->status().ToString());
  return targets;
}

Result<uint64_t> LevelDbEngine::CountHints() {
  DYNKV_RETURN_IF_ERROR(Usable(Access::kRead));
  uint64_t count = 0;
  leveldb::ReadOptions scan;
  scan.fill_cache = false;
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(scan));
  for (it->Seek(std::string(1, kHintKeyKind));
       it->Valid() && it->key().starts_with(std::string(1, kHintKeyKind)); it->Next()) {
    std::string_view target;
    std::string_view user_key;
    if (ParseHintKey(AsView(it->key()), &target, &user_key)) ++count;
  }
  if (!it->status().ok()) return Status::StorageError("hint count failed: " + it->status().ToString());
  return count;
}

Status LevelDbEngine::CheckFormat() {
  Result<std::string> format = GetMeta(kFormatMeta);
  if (format.ok()) {
    if (*format == kFormatValue) return Status::Ok();
    return Status::StorageError("data dir " + dir_ + " is not a dynkv data dir (format '" +
                                PrintableKey(*format) + "', expected '" + std::string(kFormatValue) + "')");
  }
  if (format.status().code() != Code::kNotFound) return format.status().WithContext("data dir " + dir_);
  // An empty database is one we just created (or one whose creation was
  // cut short before the stamp); anything else belongs to someone else.
  if (HoldsAnyKey()) {
    return Status::StorageError("data dir " + dir_ + " is not a dynkv data dir (format missing)");
  }
  return PutMeta(kFormatMeta, kFormatValue).WithContext("data dir " + dir_);
}

bool LevelDbEngine::HoldsAnyKey() {
  std::unique_ptr<leveldb::Iterator> it(db_->NewIterator(leveldb::ReadOptions()));
  it->SeekToFirst();
  return it->Valid() || !it->status().ok();
}

Status NoHints() { return Status::Internal("this storage engine keeps no hints"); }

}  // namespace

bool Engine::GetCached(std::string_view, Object*) { return false; }
Result<Hint> Engine::GetHint(std::string_view, std::string_view) { return NoHints(); }
Status Engine::WriteHints(std::span<const Hint>) { return NoHints(); }
Result<std::vector<Hint>> Engine::ScanHints(std::string_view, std::string*, size_t, size_t) {
  return NoHints();
}
Result<std::vector<std::string>> Engine::ListHintTargets() { return NoHints(); }
Result<uint64_t> Engine::CountHints() { return NoHints(); }
Status Engine::RetryWrites() { return Status::Ok(); }
bool Engine::writes_refused() const { return false; }
Result<std::vector<ObjectWrite>> Engine::ScanRange(uint64_t, uint64_t, std::string*, size_t, size_t) {
  return Status::Internal("this storage engine cannot scan ring ranges");
}

Result<std::unique_ptr<Engine>> OpenLevelDbEngine(const Options& options) {
  if (options.data_dir.empty()) return Status::InvalidArgument("storage data_dir is empty");
  DYNKV_RETURN_IF_ERROR(PrepareDir(options.data_dir));
  DYNKV_RETURN_IF_ERROR(CheckNoOrphanedData(options.data_dir));
  LevelDbSetup setup = MakeLevelDbSetup(options);
  leveldb::DB* raw_db = nullptr;
  const leveldb::Status status = leveldb::DB::Open(setup.options, options.data_dir, &raw_db);
  std::unique_ptr<leveldb::DB> db(raw_db);
  if (!status.ok()) return OpenError(options.data_dir, status);
  auto engine = std::make_unique<LevelDbEngine>(options, std::move(setup), std::move(db));
  DYNKV_RETURN_IF_ERROR(engine->CheckFormat());
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace dynkv::storage
