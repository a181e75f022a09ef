#!/usr/bin/env bash
# Runs every test: installs what the tests need, then `cargo test --workspace`.
# `scripts/test.sh --help` says what it installs and where.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: scripts/test.sh [CARGO TEST ARGUMENTS...]

Installs what the tests need, then runs `cargo test --workspace` with the arguments
given (for example `scripts/test.sh --test it clients`, or `-- --nocapture`).

What it installs:
  Debian packages, only those whose programs are missing: postgresql and
    postgresql-client (the server the tests start, psql, pg_dump), util-linux (setpriv,
    flock, unshare), passwd (useradd), acl and attr, systemd (systemd-analyze), zsh and
    fish (the completion tests),
    python3 and python3-pip, nodejs and npm, default-jdk-headless and
    libpostgresql-jdbc-java (pgjdbc). As root it runs apt-get; as another user it
    names the packages to install and stops.
  Client drivers, into the build directory (cargo's target directory), never
    system-wide, and again only when their lists change:
    TARGET/test-deps/uv      uv (pinned), by pip, which installs the next two; of pip's
                             settings it is given PIP_INDEX_URL (or pip's configured
                             global.index-url), PIP_EXTRA_INDEX_URL and PIP_FIND_LINKS;
    TARGET/test-deps/python  uv pip install --target, from tests/clients/requirements.txt
                             (psycopg, asyncpg, PyYAML, kubernetes-validate), put on
                             PYTHONPATH for every python3 the tests run;
    TARGET/test-deps/pgadmin uv pip install --target, from
                             tests/clients/pgadmin-requirements.txt (pgAdmin 4, which
                             pins a psycopg of its own), for tests/it/pgadmin.rs;
    TARGET/test-deps/node    npm ci from tests/clients/node's lock file (node-postgres),
                             put on NODE_PATH.

A test whose program, driver or capability is missing fails, naming what to install.
Some need root (they switch users and make mount namespaces) or IPv6 loopback.

Environment:
  ALLOYDB_CRED_TEST_SKIP_MISSING=1
      skip instead what is missing (an install that cannot be made is then a warning,
      not an error); each skip is listed after cargo's summary as
      `skipped: TEST: WHAT is missing; WHAT not tested`.
  RUST_TEST_THREADS
      how many tests run at once; unset, four per processor, as the integration
      tests mostly wait on servers and timers.
  ALLOYDB_CRED_TEST_SKIP_LOG
      set by this script: the file the tests append those lines to
      (TARGET/test-deps/skipped).
EOF
}

case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
esac

cd "$(dirname "$0")/.."
say() { echo "test.sh: $*" >&2; }

skip_missing=false
case "${ALLOYDB_CRED_TEST_SKIP_MISSING:-}" in
"" | 0) ;;
*) skip_missing=true ;;
esac
# What cannot be installed: an error, or with the opt-out a warning (its tests then skip).
cannot() {
    if $skip_missing; then
        say "warning: $*; ALLOYDB_CRED_TEST_SKIP_MISSING is set, so the tests that need it are skipped"
    else
        say "$*"
        say "(or set ALLOYDB_CRED_TEST_SKIP_MISSING=1 to skip the tests that need it)"
        exit 1
    fi
}

have() { command -v "$1" >/dev/null 2>&1; }
have_pg_server() {
    have initdb && return 0
    have pg_config && [ -x "$(pg_config --bindir)/initdb" ] && return 0
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

# ---- Debian packages, for what is missing ------------------------------------------
missing=()
have_pg_server || missing+=(postgresql)
{ have psql && have pg_dump; } || missing+=(postgresql-client)
{ have setpriv && have flock && have unshare; } || missing+=(util-linux)
have useradd || missing+=(passwd)
{ have setfacl && have getfacl; } || missing+=(acl)
{ have setfattr && have getfattr; } || missing+=(attr)
have systemd-analyze || missing+=(systemd)
have zsh || missing+=(zsh)
have fish || missing+=(fish)
have python3 || missing+=(python3)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
have node || missing+=(nodejs)
have npm || missing+=(npm)
have javac || missing+=(default-jdk-headless)
[ -f /usr/share/java/postgresql.jar ] || missing+=(libpostgresql-jdbc-java)
# As root they are installed beside the build, before the drivers (below): the build
# needs none of them.
install_debs() { :; }
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && have apt-get; then
        install_debs() {
            say "installing Debian packages: ${missing[*]}"
            local started=$SECONDS
            if DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                    --no-install-recommends "${missing[@]}" >/dev/null; then
                say "Debian packages installed in $((SECONDS - started)) s"
            else
                cannot "could not install the Debian packages ${missing[*]} (the command above failed)"
            fi
        }
    elif have apt-get; then
        cannot "missing Debian packages; install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
    else
        cannot "missing programs; on Debian they come with the packages: ${missing[*]}"
    fi
fi

# ---- Client drivers, into the build directory -------------------------------------
target_dir=$(cargo metadata --no-deps --format-version 1 |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
# An absolute path (cargo metadata gives one), so that it holds wherever a test runs.
deps="${target_dir:-$PWD/target}/test-deps"
mkdir -p "$deps"

# Installs into DIR, through COMMAND..., unless DIR/.from already holds STAMP.
install_into() {
    local dir=$1 stamp=$2 what=$3
    shift 3
    if [ "$(cat "$dir/.from" 2>/dev/null)" = "$stamp" ]; then
        return 0
    fi
    say "installing $what into $dir"
    local started=$SECONDS
    rm -rf "$dir"
    mkdir -p "$dir"
    if "$@"; then
        printf '%s\n' "$stamp" >"$dir/.from"
        say "$what installed in $((SECONDS - started)) s"
    else
        rm -rf "$dir"
        cannot "could not install $what (the command above failed)"
    fi
}

# The Python drivers install through uv, from PyPI by pip, pinned, into a folder of its
# own: pip took 45-80 s and most of a processor beside the build for pgAdmin's 600 MB, uv
# takes 5-15 s for the same packages. --system-certs: the system's certificates, as the
# rest of the machine uses them.
uv_version=0.13.9
install_uv() {
    python3 -m pip --version >/dev/null 2>&1 || return 0
    install_into "$deps/uv" "uv $uv_version" "uv $uv_version" \
        env PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --no-compile \
        --disable-pip-version-check --no-warn-script-location \
        --target "$deps/uv" "uv==$uv_version"
}

# uv reads no pip configuration: these settings of pip's are passed on (unless uv's own
# variables say otherwise). pip takes the best version from all its indexes together, uv
# by default a name from the first index that has it: with an extra index, uv is told to
# choose as pip does.
# (Asking pip takes most of a second: done in the background job, beside the build.)
uv_index=()
find_uv_index() {
    local pip_index
    pip_index=${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}
    [ -z "$pip_index" ] || uv_index+=("UV_DEFAULT_INDEX=${UV_DEFAULT_INDEX:-$pip_index}")
    [ -z "${PIP_EXTRA_INDEX_URL:-}" ] || uv_index+=("UV_INDEX=${UV_INDEX:-$PIP_EXTRA_INDEX_URL}"
        "UV_INDEX_STRATEGY=${UV_INDEX_STRATEGY:-unsafe-best-match}")
    [ -z "${PIP_FIND_LINKS:-}" ] || uv_index+=("UV_FIND_LINKS=${UV_FIND_LINKS:-${PIP_FIND_LINKS// /,}}")
}

# Installs REQUIREMENTS into DIR (as `pip install --target DIR -r REQUIREMENTS` would),
# again only when the list or the python3 changes (psycopg-binary is built for one Python).
install_python() {
    local dir=$1 requirements=$2 what=$3
    [ -x "$deps/uv/bin/uv" ] || return 0
    local python stamp
    python=$(command -v python3) || return 0
    stamp="$python $(python3 -c 'import sys; print(sys.version.split()[0])') $(cksum <"$requirements")"
    install_into "$dir" "$stamp" "$what" \
        env ${uv_index[@]+"${uv_index[@]}"} "$deps/uv/bin/uv" pip install --quiet --system-certs --python "$python" \
        --target "$dir" -r "$requirements"
}

install_drivers() {
    install_uv
    find_uv_index
    install_python "$deps/python" tests/clients/requirements.txt \
        "the Python packages of tests/clients/requirements.txt"
    # pgAdmin 4 pins its own psycopg, another than the client matrix's: a folder of its
    # own, which tests/it/pgadmin.rs puts first on its PYTHONPATH.
    install_python "$deps/pgadmin" tests/clients/pgadmin-requirements.txt \
        "pgAdmin 4 (tests/clients/pgadmin-requirements.txt)"
    if have npm; then
        local node_stamp
        node_stamp="$(node --version 2>/dev/null) $(cksum <tests/clients/node/package-lock.json)"
        install_node() {
            cp tests/clients/node/package.json tests/clients/node/package-lock.json "$deps/node/" &&
                npm ci --prefix "$deps/node" --no-audit --no-fund --loglevel=error >/dev/null
        }
        install_into "$deps/node" "$node_stamp" "node-postgres (tests/clients/node)" install_node
    fi
}
export PYTHONPATH="$deps/python${PYTHONPATH:+:$PYTHONPATH}"
export NODE_PATH="$deps/node/node_modules${NODE_PATH:+:$NODE_PATH}"

# The packages and drivers install while cargo builds the tests: the installs wait mostly
# on the network and the disk, the build on the processors. Their messages are kept
# apart and shown once the build is done, so that the two do not interleave.
install_log="$deps/install.log"
{
    install_debs
    install_drivers
} >"$install_log" 2>&1 &
installer=$!
say "installing what the tests need in the background while they build (log: $install_log)"
status=0
cargo test --workspace --no-run "$@" || status=$?
installed=0
wait "$installer" || installed=$?
cat "$install_log" >&2
[ "$installed" -eq 0 ] || exit "$installed"
[ "$status" -eq 0 ] || exit "$status"

# ---- The tests ----------------------------------------------------------------------
skip_log="$deps/skipped"
: >"$skip_log"
export ALLOYDB_CRED_TEST_SKIP_LOG="$skip_log"

# More test threads than processors: the integration tests mostly wait (on the servers
# they start, on tokens expiring, on timeouts), and at one thread per processor the
# processors were idle half the time. RUST_TEST_THREADS or --test-threads set by the
# caller win.
if [ -z "${RUST_TEST_THREADS:-}" ]; then
    RUST_TEST_THREADS=$((4 * $(nproc 2>/dev/null || echo 2)))
    export RUST_TEST_THREADS
fi

say "cargo test --workspace${*:+ $*} (RUST_TEST_THREADS=$RUST_TEST_THREADS)"
cargo test --workspace "$@" || status=$?

if [ -s "$skip_log" ]; then
    echo
    echo "Not tested (ALLOYDB_CRED_TEST_SKIP_MISSING is set), $(wc -l <"$skip_log") skipped:"
    sort "$skip_log"
fi
exit "$status"
