// ConnectionGuard: the decisions about one connection, on a made-up clock.
#include "net/connection_guard.h"

#include <doctest/doctest.h>

namespace dynkv::net {
namespace {

ConnectionLimits Limits() {
  ConnectionLimits limits;
  limits.max_output_bytes = 1000;
  limits.max_output_hard_bytes = 5000;
  limits.output_timeout_ms = 10'000;
  limits.frame_timeout_ms = 3'000;
  limits.idle_timeout_ms = 0;
  return limits;
}

ConnectionSample Output(size_t bytes) {
  ConnectionSample sample;
  sample.output_bytes = bytes;
  return sample;
}

TEST_CASE("output past the bound pauses reading once; draining below it resumes") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.AfterOutput(1000, 0, limits) == GuardVerdict::kNone);  // at the bound is fine
  CHECK(guard.AfterOutput(1001, 0, limits) == GuardVerdict::kPause);
  CHECK(guard.paused());
  CHECK(guard.AfterOutput(2000, 10, limits) == GuardVerdict::kNone);  // paused already
  CHECK(guard.Check(Output(1500), 100, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(Output(999), 200, limits) == GuardVerdict::kResume);
  CHECK_FALSE(guard.paused());
  CHECK(guard.Check(Output(0), 300, limits) == GuardVerdict::kNone);
}

TEST_CASE("the sweep pauses too, for output that grew between sends") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.Check(Output(4000), 100, limits) == GuardVerdict::kPause);
  CHECK(guard.Check(Output(4000), 200, limits) == GuardVerdict::kNone);
}

TEST_CASE("output past the hard cap closes at once") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.AfterOutput(5001, 0, limits) == GuardVerdict::kCloseSlowReader);
  ConnectionGuard swept(0);
  CHECK(swept.Check(Output(5001), 0, limits) == GuardVerdict::kCloseSlowReader);
}

TEST_CASE("output over the bound for output_timeout closes; draining in time does not") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.AfterOutput(2000, 1'000, limits) == GuardVerdict::kPause);
  CHECK(guard.Check(Output(2000), 10'999, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(Output(2000), 11'000, limits) == GuardVerdict::kCloseSlowReader);

  ConnectionGuard drained(0);
  CHECK(drained.AfterOutput(2000, 1'000, limits) == GuardVerdict::kPause);
  CHECK(drained.Check(Output(10), 9'000, limits) == GuardVerdict::kResume);
  // Over again later: the timeout counts from then.
  CHECK(drained.Check(Output(2000), 9'100, limits) == GuardVerdict::kPause);
  CHECK(drained.Check(Output(2000), 19'000, limits) == GuardVerdict::kNone);
  CHECK(drained.Check(Output(2000), 19'100, limits) == GuardVerdict::kCloseSlowReader);
}

TEST_CASE("an output_timeout of 0 leaves only the hard cap") {
  ConnectionLimits limits = Limits();
  limits.output_timeout_ms = 0;
  ConnectionGuard guard(0);
  CHECK(guard.Check(Output(2000), 0, limits) == GuardVerdict::kPause);
  CHECK(guard.Check(Output(2000), 1'000'000, limits) == GuardVerdict::kNone);
}

ConnectionSample Partial(size_t bytes, uint64_t requests, uint64_t received) {
  ConnectionSample sample;
  sample.partial_bytes = bytes;
  sample.requests = requests;
  sample.bytes_received = received;
  return sample;
}

TEST_CASE("the same partial request held for frame_timeout closes, however slowly it grows") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.Check(Partial(3, 0, 3), 1'000, limits) == GuardVerdict::kNone);
  // A byte now and then is no progress: no request was completed.
  CHECK(guard.Check(Partial(4, 0, 4), 2'000, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(Partial(5, 0, 5), 3'999, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(Partial(5, 0, 5), 4'000, limits) == GuardVerdict::kClosePartialFrame);
}

TEST_CASE("a busy connection, with a different request half read at every look, is not closed") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  for (int i = 0; i < 100; ++i) {
    CHECK(guard.Check(Partial(100, static_cast<uint64_t>(i), 1000u * i), i * 1000, limits) ==
          GuardVerdict::kNone);
  }
}

TEST_CASE("a partial request is not timed while reading is held back") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.AfterOutput(2000, 0, limits) == GuardVerdict::kPause);
  ConnectionSample held = Partial(3, 0, 3);
  held.output_bytes = 2000;
  CHECK(guard.Check(held, 5'000, limits) == GuardVerdict::kNone);
  held.output_bytes = 0;
  CHECK(guard.Check(held, 6'000, limits) == GuardVerdict::kResume);  // the timer starts now
  CHECK(guard.Check(held, 8'999, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(held, 9'000, limits) == GuardVerdict::kClosePartialFrame);
}

TEST_CASE("a frame_timeout of 0 never closes for a partial request") {
  ConnectionLimits limits = Limits();
  limits.frame_timeout_ms = 0;
  ConnectionGuard guard(0);
  CHECK(guard.Check(Partial(3, 0, 3), 0, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(Partial(3, 0, 3), 1'000'000, limits) == GuardVerdict::kNone);
}

TEST_CASE("idle_timeout closes a connection with nothing received, in progress or unsent") {
  ConnectionLimits limits = Limits();
  limits.idle_timeout_ms = 5'000;
  ConnectionGuard guard(0);
  ConnectionSample sample;
  CHECK(guard.Check(sample, 4'999, limits) == GuardVerdict::kNone);
  sample.bytes_received = 10;  // a request came
  CHECK(guard.Check(sample, 4'999, limits) == GuardVerdict::kNone);
  sample.unanswered = 1;  // and is in progress for long
  CHECK(guard.Check(sample, 20'000, limits) == GuardVerdict::kNone);
  sample.unanswered = 0;
  sample.output_bytes = 10;  // its answer is being written
  CHECK(guard.Check(sample, 21'000, limits) == GuardVerdict::kNone);
  sample.output_bytes = 0;
  CHECK(guard.Check(sample, 25'999, limits) == GuardVerdict::kNone);
  CHECK(guard.Check(sample, 26'000, limits) == GuardVerdict::kCloseIdle);
}

TEST_CASE("an idle_timeout of 0 keeps idle connections open") {
  const ConnectionLimits limits = Limits();
  ConnectionGuard guard(0);
  CHECK(guard.Check(ConnectionSample{}, 1'000'000'000, limits) == GuardVerdict::kNone);
}

TEST_CASE("stats are filled under their prefix") {
  GuardStats stats;
  stats.reads_paused = 1;
  stats.closed_slow_reader = 2;
  stats.closed_partial_frame = 3;
  stats.closed_idle = 4;
  std::map<std::string, double> values;
  stats.Fill("resp.", &values);
  CHECK(values["resp.reads_paused"] == 1);
  CHECK(values["resp.closed_slow_reader"] == 2);
  CHECK(values["resp.closed_partial_frame"] == 3);
  CHECK(values["resp.closed_idle"] == 4);
}

}  // namespace
}  // namespace dynkv::net
