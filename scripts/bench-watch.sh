#!/usr/bin/env bash
# Idle cost of `alloydb-cred refresh --watch` between refreshes, read from /proc: resident
# memory (VmRSS) and wake-ups (context switches of all its threads) over a quiet period,
# for 1 and 1,000 services whose tokens are fresh. Targets: at most 16 MiB and at most two
# wake-ups per ten seconds.
# Usage: scripts/bench-watch.sh [SECONDS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
QUIET=${1:-30}
cargo build --quiet --release --workspace
BIN="$PWD/target/release/alloydb-cred"
FAKE="$PWD/target/release/fake-google"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alloydb-cred-bench-watch.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
"$FAKE" serve --env-file "$WORK/env" >/dev/null &
PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$WORK/env" ] && break; sleep 0.05; done
. "$WORK/env"
unset PGPASSFILE PGSERVICEFILE ALLOYDB_CRED_CONFIG NOTIFY_SOCKET WATCHDOG_USEC

switches() { # voluntary + involuntary context switches of every thread of $1
    cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ { n += $2 } END { print n }'
}

for n in 1 1000; do
    dir="$WORK/n$n"
    mkdir -p "$dir"
    {
        echo "[defaults]"
        echo "pgpass = \"$dir/pgpass\""
        echo "service_file = \"$dir/services\""
        echo "credentials = { command = [\"$FAKE\", \"mint\", \"--url\", \"$FAKE_GOOGLE_URL\", \"--principal\", \"robot@proj.iam.gserviceaccount.com\"] }"
        for i in $(seq 1 "$n"); do
            printf '[services.svc%d]\nhost = "10.0.%d.%d"\n' "$i" $((i / 250)) $((i % 250))
        done
    } > "$dir/config.toml"
    ALLOYDB_CRED_STATE_DIR="$dir/state" "$BIN" --config "$dir/config.toml" -q refresh --watch &
    pid=$!
    PIDS+=("$pid")
    # Wait for the first pass to have written every entry.
    for _ in $(seq 1 200); do
        [ "$(grep -c '^# alloydb-cred service=' "$dir/pgpass" 2>/dev/null || echo 0)" -ge "$n" ] && break
        sleep 0.1
    done
    sleep 1
    before=$(switches "$pid")
    sleep "$QUIET"
    after=$(switches "$pid")
    rss=$(awk '/VmRSS/ { print $2 }' /proc/"$pid"/status)
    echo "$n services: VmRSS $((rss / 1024)) MiB ($rss kB); $((after - before)) wake-ups in ${QUIET} s ($(awk "BEGIN { printf \"%.2f\", ($after - $before) * 10 / $QUIET }") per 10 s)"
    kill "$pid"
    # The targets above: fail (exit 1) when one is missed.
    if [ "$rss" -gt $((16 * 1024)) ] || [ $(((after - before) * 10)) -gt $((2 * QUIET)) ]; then
        echo "$n services: over the target (16 MiB, two wake-ups per 10 s)" >&2
        failed=1
    fi
done
exit "${failed:-0}"
