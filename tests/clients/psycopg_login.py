"""Logs in with psycopg 3 through libpq's service and password files alone.

Usage: python3 psycopg_login.py SERVICE...

For each service, connects with the connection string ``service=NAME`` (libpq finds the
section in PGSERVICEFILE or ~/.pg_service.conf and the password in PGPASSFILE or
~/.pgpass) and prints ``SERVICE|current_user|inet_server_addr()``. A failure prints the
driver's error on stderr; the exit status is 1 if any service failed. PSYCOPG_IMPL
chooses the libpq binding (``binary``: the libpq bundled with psycopg-binary;
``python``: the system's libpq).
"""

import sys

import psycopg


def main(services):
    print(
        f"version: psycopg {psycopg.__version__} ({psycopg.pq.__impl__}), "
        f"libpq {psycopg.pq.version()}",
        file=sys.stderr,
    )
    failed = False
    for service in services:
        try:
            with psycopg.connect(f"service={service}") as conn:
                user, addr = conn.execute(
                    "select current_user, host(inet_server_addr())"
                ).fetchone()
            print(f"{service}|{user}|{addr}", flush=True)
        except psycopg.Error as e:
            print(f"{service}: {type(e).__name__}: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
