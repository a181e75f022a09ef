"""Logs in with asyncpg, which reads the password file itself (no libpq).

Usage: python3 asyncpg_login.py DSN...

For each DSN (``postgresql://?service=NAME``, or one naming host, port, user and
database without a password), connects and prints ``DSN|current_user|inet_server_addr()``.
asyncpg finds the password in PGPASSFILE or ~/.pgpass, and since 0.31 reads the section
a ``service=`` DSN names from PGSERVICEFILE or ~/.pg_service.conf. A failure prints the
error's type and text on stderr; the exit status is 1 if any DSN failed.
"""

import asyncio
import sys

import asyncpg


async def login(dsn):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchrow(
            "select current_user, host(inet_server_addr()) as addr"
        )
    finally:
        await conn.close()


def main(dsns):
    print(f"version: asyncpg {asyncpg.__version__}", file=sys.stderr)
    failed = False
    for dsn in dsns:
        try:
            row = asyncio.run(login(dsn))
            print(f"{dsn}|{row['current_user']}|{row['addr']}", flush=True)
        except Exception as e:  # the driver's own and OS errors alike
            print(f"{dsn}: {type(e).__name__}: {e}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
