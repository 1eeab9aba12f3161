#!/usr/bin/env bash
# MAM full-text search benchmark (XEP-0313 archive search): ours
# (xmpp_accel_core::mam, on tantivy) against SQLite FTS5 in two layouts and a
# SQLite LIKE scan, on the same generated archives and queries, in one run.
# See bench/README.md, section "make bench-mam".
#
#   BENCH_QUICK=1     smoke run (100,000 messages, 40 queries per type)
#   BENCH_MESSAGES    messages per dataset (default 1,000,000)
#   BENCH_ARCHIVES    archives in dataset B (default 10,000)
#   BENCH_QUERIES     queries per type (default 200)
#   BENCH_BUDGET_S    seconds of timed queries per engine and type before a
#                     slow engine stops (it still runs at least 10)
#   BENCH_SEED        data and query seed
#   BENCH_KEEP=1      keep the index dirs (under $TMPDIR or /tmp)
#   BENCH_INDEX_ONLY=N only index dataset A into ours, N times (msgs/s)
#   CARGO_TARGET_DIR  honoured (default: cargo's, bench/mam/target)
#
# Builds the benchmark (release) itself; it does not need `make build'.
# The last line of stdout is the `summary:' line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

command -v cargo >/dev/null 2>&1 || { echo "bench-mam: cargo not found in PATH" >&2; exit 2; }

# build output goes to stderr, so stdout holds the report only
cargo build --release --manifest-path bench/mam/Cargo.toml >&2
TARGET=${CARGO_TARGET_DIR:-$HERE/target}
case "$TARGET" in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
exec "$TARGET/release/bench_mam"
