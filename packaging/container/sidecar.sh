#!/bin/sh
# sidecar.sh: keep alloydb-cred's tokens fresh from a sidecar container that
# shares a volume with the application container. See README.md in this
# directory.
#
# Usage: sidecar.sh [REFRESH-OPTIONS...]
#   Any arguments are passed to `alloydb-cred refresh`, for example
#   `--config /etc/alloydb-cred/config.toml` or `--service prod`.
#
# Environment:
#   ALLOYDB_CRED_SIDECAR_INTERVAL  seconds between refreshes (default 60)
#   PGPASSFILE, PGSERVICEFILE, ALLOYDB_CRED_CONFIG, ALLOYDB_CRED_STATE_DIR
#                                  as described in alloydb-cred(1)
#
# The first refresh runs at once. A failed refresh is reported on standard
# error and retried after the interval; the loop keeps going. SIGTERM or SIGINT
# ends the loop cleanly: a refresh in progress is allowed to finish (it writes
# the files atomically under its lock), a pending sleep is cut short, and the
# script exits with status 0.

interval=${ALLOYDB_CRED_SIDECAR_INTERVAL:-60}
case $interval in
    '' | *[!0-9]*)
        echo "sidecar.sh: ALLOYDB_CRED_SIDECAR_INTERVAL must be a number of seconds, not '$interval'" >&2
        exit 2
        ;;
esac

stopping=0
sleeper=
on_signal() {
    stopping=1
    if [ -n "$sleeper" ]; then
        kill "$sleeper" 2>/dev/null
    fi
}
trap on_signal TERM INT

while [ "$stopping" -eq 0 ]; do
    alloydb-cred refresh "$@" ||
        echo "sidecar.sh: alloydb-cred refresh failed with status $?; trying again in ${interval}s" >&2
    [ "$stopping" -eq 0 ] || break
    # Sleep in the background and wait for it: the shell runs the trap as soon
    # as a signal arrives during `wait`, but only after a foreground `sleep`.
    sleep "$interval" &
    sleeper=$!
    wait "$sleeper"
    sleeper=
done
echo "sidecar.sh: stopping" >&2
exit 0
