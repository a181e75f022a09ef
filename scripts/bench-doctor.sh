#!/usr/bin/env bash
# Whole-process timings of `alloydb-cred doctor` where teams grow: 20 services, each
# impersonating its own service account on one metadata-server credential, with every
# Google request answered after 200 ms (a loopback stand-in with a delay). The files are
# written by a refresh first, so doctor also asks tokeninfo about each written token.
# Besides the timings it prints how many base tokens (metadata-server token requests) one
# doctor run fetched.
#
# Usage: scripts/bench-doctor.sh [OTHER_BINARY]
# With another build of alloydb-cred (an older release, say), it is timed in the same
# hyperfine run on its own copy of the set-up, for a side-by-side ratio.
# Needs hyperfine (Debian: apt-get install hyperfine). Medians are what to compare.
set -euo pipefail
OTHER=${1:-}
[ -z "$OTHER" ] || OTHER=$(realpath "$OTHER")
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "install hyperfine first (apt-get install hyperfine)" >&2; exit 1; }
cargo build --quiet --release -p alloydb-cred -p fake-google
BIN="$PWD/target/release/alloydb-cred"
FAKE="$PWD/target/release/fake-google"
SERVICES=20
DELAY_MS=200
BASE=base@proj.iam.gserviceaccount.com

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alloydb-cred-bench-doctor.XXXXXX")
FAKE_PID=
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

grants=()
for i in $(seq 1 "$SERVICES"); do grants+=(--token-creator "$BASE=svc$i@proj.iam.gserviceaccount.com"); done
"$FAKE" serve --metadata-account "$BASE" --delay "$DELAY_MS" "${grants[@]}" --env-file "$WORK/env" >/dev/null &
FAKE_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/env" ] && break; sleep 0.05; done
. "$WORK/env"
export GCE_METADATA_HOST="$FAKE_GOOGLE_METADATA_HOST"
unset PGPASSFILE PGSERVICEFILE ALLOYDB_CRED_CONFIG GOOGLE_APPLICATION_CREDENTIALS

# A loopback port where nothing listens: the network checks answer at once, so what is
# measured is the Google round trips.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# setup DIR BINARY: a HOME with the configuration, refreshed once by BINARY.
setup() {
    mkdir -p "$1/home" "$1/state"
    {
        echo "[defaults]"
        echo "pgpass = \"$1/pgpass\""
        echo "service_file = \"$1/services\""
        echo "credentials = \"metadata\""
        echo "[endpoints]"
        echo "tokeninfo = \"$FAKE_GOOGLE_URL/tokeninfo\""
        echo "iamcredentials = \"$FAKE_GOOGLE_URL\""
        echo "timeout = \"10s\""
        for i in $(seq 1 "$SERVICES"); do
            printf '[services.svc%d]\nhost = "127.0.0.1"\nport = %d\ndbname = "appdb"\nimpersonate = "svc%d@proj.iam.gserviceaccount.com"\n' "$i" "$PORT" "$i"
        done
    } > "$1/config.toml"
    HOME="$1/home" ALLOYDB_CRED_STATE_DIR="$1/state" "$2" --config "$1/config.toml" -q refresh
}

# doctor_cmd DIR BINARY: the command hyperfine runs (doctor exits 3 here: nothing
# listens on the port, which is a problem it reports).
doctor_cmd() {
    echo "HOME=$1/home ALLOYDB_CRED_STATE_DIR=$1/state $2 --config $1/config.toml doctor >/dev/null || [ \$? -eq 3 ]"
}

metadata_tokens() {
    curl -s "$FAKE_GOOGLE_URL/stats" | python3 -c 'import json,sys; r=json.load(sys.stdin)["requests"]; print(sum(v for k,v in r.items() if "metadata" in k and "token" in k))'
}

setup "$WORK/this" "$BIN"
runs=(-n this "$(doctor_cmd "$WORK/this" "$BIN")")
if [ -n "$OTHER" ]; then
    setup "$WORK/other" "$OTHER"
    runs+=(-n other "$(doctor_cmd "$WORK/other" "$OTHER")")
fi

for who in this ${OTHER:+other}; do
    bin=$BIN; [ "$who" = other ] && bin=$OTHER
    before=$(metadata_tokens)
    sh -c "$(doctor_cmd "$WORK/$who" "$bin")"
    echo "$who: one doctor run fetched $(( $(metadata_tokens) - before )) base token(s) from the metadata server"
done

hyperfine --warmup 1 --runs "${RUNS:-5}" "${runs[@]}"
