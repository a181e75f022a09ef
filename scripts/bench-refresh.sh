#!/usr/bin/env bash
# Whole-process timings of `alloydb-cred refresh` when nothing is due (the cron path), with
# a password file that also holds 10,000 foreign lines:
#   - 1 service, and 1,000 services;
#   - beside them, `alloydb-cred --version` (process start-up and argument parsing only),
#     so the ratio to bare start-up is measured in the same run.
# Also cold refreshes that mint: 1 service from a loopback token command, and 1 and
# 100 services sharing one credential from a loopback metadata server (one mint per run).
# Needs hyperfine (Debian: apt-get install hyperfine). Medians are what to compare. With
# valgrind installed it also counts the instructions of the 1,000-service nothing-due run
# (callgrind): a number that, unlike timings, does not move with the machine's load.
#
# Usage: scripts/bench-refresh.sh [OTHER_BINARY]
# With another build of alloydb-cred (an older release, say), its nothing-due runs are
# timed in the same hyperfine run, on copies of the same files, for a side-by-side ratio.
set -euo pipefail
OTHER=${1:-}
[ -z "$OTHER" ] || OTHER=$(realpath "$OTHER")
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine first (apt-get install hyperfine)" >&2; exit 1; }
cargo build --quiet --release --workspace
BIN="$PWD/target/release/alloydb-cred"
FAKE="$PWD/target/release/fake-google"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alloydb-cred-bench.XXXXXX")
FAKE_PID=
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
"$FAKE" serve --metadata-account robot@proj.iam.gserviceaccount.com --env-file "$WORK/env" >/dev/null &
FAKE_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/env" ] && break; sleep 0.05; done
. "$WORK/env"

export ALLOYDB_CRED_STATE_DIR="$WORK/state"
unset PGPASSFILE PGSERVICEFILE ALLOYDB_CRED_CONFIG
# write_config DIR N CREDENTIALS: a config for N services sharing one credential.
write_config() {
    {
        echo "[defaults]"
        echo "pgpass = \"$1/pgpass\""
        echo "service_file = \"$1/services\""
        echo "credentials = $3"
        for i in $(seq 1 "$2"); do
            printf '[services.svc%d]\nhost = "10.0.%d.%d"\ndbname = "appdb"\n' "$i" $((i / 250)) $((i % 250))
        done
    } > "$1/config.toml"
}

for n in 1 1000; do
    dir="$WORK/n$n"
    mkdir -p "$dir"
    for i in $(seq 1 10000); do echo "host$i.example.com:5432:*:user$i:password$i"; done > "$dir/pgpass"
    chmod 600 "$dir/pgpass"
    write_config "$dir" "$n" "{ command = [\"$FAKE\", \"mint\", \"--url\", \"$FAKE_GOOGLE_URL\", \"--principal\", \"robot@proj.iam.gserviceaccount.com\"] }"
    "$BIN" --config "$dir/config.toml" -q refresh
done

other_runs=()
if [ -n "$OTHER" ]; then
    # The other build gets its own copies (its markers may differ) and state directory.
    for n in 1 1000; do
        mkdir -p "$WORK/other$n"
        for i in $(seq 1 10000); do echo "host$i.example.com:5432:*:user$i:password$i"; done > "$WORK/other$n/pgpass"
        chmod 600 "$WORK/other$n/pgpass"
        sed "s#$WORK/n$n/#$WORK/other$n/#" "$WORK/n$n/config.toml" > "$WORK/other$n/config.toml"
        ALLOYDB_CRED_STATE_DIR="$WORK/other-state" "$OTHER" --config "$WORK/other$n/config.toml" -q refresh --force
    done
    other_runs=(
        -n "other: startup (--version)" "$OTHER --version"
        -n "other: refresh, nothing due, 1 service" "$OTHER --config $WORK/other1/config.toml refresh"
        -n "other: refresh, nothing due, 1000 services" "$OTHER --config $WORK/other1000/config.toml refresh"
    )
fi

if command -v valgrind >/dev/null; then
    count() { # instructions of one run of "$@"
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
            awk '/refs:/ { gsub(",", "", $NF); print $NF }'
    }
    echo "instructions, refresh with nothing due, 1000 services: $(count "$BIN" --config "$WORK/n1000/config.toml" refresh)"
    [ -z "$OTHER" ] || echo "  other build: $(count "$OTHER" --config "$WORK/other1000/config.toml" refresh)"
fi

hyperfine --warmup 20 --runs 300 -N \
    --export-json "$WORK/nothing-due.json" \
    -n "startup (--version)" "$BIN --version" \
    -n "refresh, nothing due, 1 service" "$BIN --config $WORK/n1/config.toml refresh" \
    -n "refresh, nothing due, 1000 services" "$BIN --config $WORK/n1000/config.toml refresh" \
    "${other_runs[@]}"

for n in 1 100; do
    mkdir -p "$WORK/meta$n"
    write_config "$WORK/meta$n" "$n" '"metadata"'
done
export GCE_METADATA_HOST="$FAKE_GOOGLE_METADATA_HOST"
hyperfine --warmup 5 --runs 100 -N \
    --export-json "$WORK/minting.json" \
    -n "startup (--version)" "$BIN --version" \
    -n "refresh --force, 1 service, token command" "$BIN --config $WORK/n1/config.toml refresh --force" \
    -n "refresh --force, 1 service, metadata server" "$BIN --config $WORK/meta1/config.toml refresh --force" \
    -n "refresh --force, 100 services, metadata server" "$BIN --config $WORK/meta100/config.toml refresh --force"

python3 - "$WORK/nothing-due.json" "$WORK/minting.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    res = json.load(open(path))["results"]
    base = res[0]["median"]
    for r in res:
        print(f'{r["command"]:48s} median {r["median"]*1000:7.3f} ms  ({r["median"]/base:5.2f}x start-up)')
PY
curl -s "$FAKE_GOOGLE_URL/stats" | python3 -c 'import json,sys; h=json.load(sys.stdin).get("requests",{}); print("metadata token requests:", h.get("metadata_token"), "(one per metadata run: 100 services share one mint)")' || true
/usr/bin/time -v "$BIN" --config "$WORK/n1000/config.toml" refresh 2>&1 | grep -E "Maximum resident|Elapsed" || true
