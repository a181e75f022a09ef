#!/usr/bin/env bash
# Whole-process timings of `refresh --force` and `doctor` for 20 services, each
# impersonating its own service account on one metadata-server credential, with every
# request to the stand-in answered after 200 ms (benches/impersonation.rs), and how many
# base-token (metadata) and generateAccessToken requests each run made.
#
# Usage: scripts/bench-impersonation.sh [OTHER_BINARY]...
# Other builds of alloydb-cred (an older release, another branch's build) are measured
# in the same run, against the same stand-in, for a side-by-side comparison. RUNS
# (default 5) sets the runs per binary and command.
set -euo pipefail
others=()
for other in "$@"; do others+=("$(realpath "$other")"); done
cd "$(dirname "$0")/.."
cargo build --quiet --release --bin alloydb-cred
cargo bench --quiet --bench impersonation -- "${others[@]}" "$PWD/target/release/alloydb-cred"
