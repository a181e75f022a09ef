#!/usr/bin/env bash
# A self-contained demo of alloydb-cred's main job, for a machine with no Google account:
#
#   1. starts a local stand-in for Google's token service (fake-google) and a real
#      PostgreSQL server that, like AlloyDB, accepts a password only when it is a live
#      token whose principal matches the database user;
#   2. writes an alloydb-cred configuration whose credential is a token command;
#   3. runs `alloydb-cred refresh`, then psql and pg_dump log in through ~/.pgpass and
#      ~/.pg_service.conf alone.
#
# Everything happens under a temporary HOME; your own ~/.pgpass is never touched.
# Needs PostgreSQL's server and client programs (Debian: apt-get install postgresql).
set -euo pipefail

cd "$(dirname "$0")/.."
echo "== building alloydb-cred and the stand-in (cargo build --workspace; the first build takes a minute or two)"
cargo build --workspace
BIN="$PWD/target/debug/alloydb-cred"
FAKE="$PWD/target/debug/fake-google"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alloydb-cred-demo.XXXXXX")
FAKE_PID=
cleanup() {
    if [ -n "$FAKE_PID" ]; then
        kill "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

SA="demo-robot@demo-project.iam.gserviceaccount.com"
echo "== starting the stand-in token service and an AlloyDB-like PostgreSQL"
"$FAKE" serve --postgres --role "demo-robot@demo-project.iam" --env-file "$WORK/env" >/dev/null &
FAKE_PID=$!
for _ in $(seq 1 300); do
    [ -s "$WORK/env" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || { echo "fake-google failed to start" >&2; exit 1; }
    sleep 0.1
done
[ -s "$WORK/env" ] || { echo "fake-google did not become ready" >&2; exit 1; }
# shellcheck disable=SC1091
. "$WORK/env"

export HOME="$WORK/home" ALLOYDB_CRED_STATE_DIR="$WORK/state"
unset PGPASSFILE PGSERVICEFILE PGSERVICE PGPASSWORD PGHOST PGPORT PGUSER PGDATABASE ALLOYDB_CRED_CONFIG
mkdir -p "$HOME"
cat > "$WORK/config.toml" <<TOML
# The token command stands in for Google: it prints
# {"access_token": "...", "expires_in": 3600, "principal": "$SA"}
[defaults]
credentials = { command = ["$FAKE", "mint", "--url", "$FAKE_GOOGLE_URL", "--principal", "$SA"] }

[services.demo]
host = "127.0.0.1"
port = $PGPORT_TEST
dbname = "appdb"
user = "auto"    # the principal, without .gserviceaccount.com
TOML
export ALLOYDB_CRED_CONFIG="$WORK/config.toml"

echo
echo "== alloydb-cred -v refresh"
"$BIN" -v refresh 2>&1
echo
echo "== alloydb-cred status"
"$BIN" status
echo
echo "== ~/.pgpass (token shortened here; the tool never prints it)"
sed -E 's/(ya29\.[A-Za-z0-9_-]{6})[A-Za-z0-9._-]*/\1…/' "$HOME/.pgpass"
echo
echo "== ~/.pg_service.conf"
cat "$HOME/.pg_service.conf"

PSQL="${PG_BINDIR:+$PG_BINDIR/}psql"
PG_DUMP="${PG_BINDIR:+$PG_BINDIR/}pg_dump"
[ -x "$PSQL" ] || PSQL=psql
[ -x "$PG_DUMP" ] || PG_DUMP=pg_dump
echo
echo "== PGSERVICE=demo psql -c 'select current_user'"
PGSERVICE=demo "$PSQL" -X -w -c "select current_user, now() as logged_in_at"
echo "== pg_dump service=demo --schema-only (first lines)"
"$PG_DUMP" -w --schema-only -d service=demo | grep -E "CREATE TABLE|ALTER TABLE" | head -3
echo
echo "== a second refresh has nothing to do (no token minted, no network)"
"$BIN" -vv refresh 2>&1
echo
echo "== alloydb-cred remove --all (the files it created are gone; the empty lock files .alloydb-cred.lock and .alloydb-cred.mint.lock stay)"
"$BIN" -v remove --all 2>&1
echo "== ls -A ~"
ls -A "$HOME"
echo "demo finished"
