#!/usr/bin/env bash
# Builds the Debian and RPM packages of alloydb-cred and checks them:
#
#   1. builds the binary (`cargo build --profile PROFILE`, release by default);
#   2. builds the .deb with cargo-deb ([package.metadata.deb] in Cargo.toml and
#      packaging/debian/) and the .rpm with rpmbuild (packaging/rpm/alloydb-cred.spec),
#      both from that binary, stripped;
#   3. runs `lintian --pedantic` and `rpmlint` and fails on any error or warning but
#      the few that do not apply to a package built here (each named below, with why);
#   4. checks what each package holds (a stripped binary, compressed man pages, the
#      README compressed in the .deb, the units) and runs its maintainer scripts /
#      scriptlets for install, upgrade and removal against a recording systemctl;
#   5. as root: installs the .deb and checks what it installed (`man -w`,
#      `systemd-analyze verify` of the units), then purges it; installs the .rpm into
#      a scratch root (`rpm --root`, scriptlets not run) and runs the binary from it.
#
# Usage: scripts/package.sh [--profile release|dev|NAME] [--out DIR] [--no-install]
#
#   --profile   cargo profile of the binary (default release). `dev` reuses the binary
#               the tests build: the packages and their checks are the same, but the
#               binary is not optimised, so use it to check packaging, not to ship.
#   --out       where the packages go (default target/packages)
#   --no-install  skip step 5 (it needs root and changes the system's package database)
#
# Needs: cargo-deb 3.8 (`cargo install cargo-deb --version 3.8.0 --locked`), and from
# Debian: lintian, rpm (rpmbuild), rpmlint, cpio, binutils, and to install: man-db and
# systemd (systemd-analyze).
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS

profile=release
out=target/packages
install=true
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:?--profile needs a value}; shift 2 ;;
        --out) out=${2:?--out needs a value}; shift 2 ;;
        --no-install) install=false; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "package.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

fail() {
    echo "package.sh: $*" >&2
    exit 1
}
step() {
    echo "== $* ($((SECONDS - started)) s)"
}

missing=()
cargo deb --version >/dev/null 2>&1 || missing+=("cargo-deb (cargo install cargo-deb --version 3.8.0 --locked)")
for tool in rpmbuild:rpm rpm:rpm rpm2cpio:rpm lintian:lintian rpmlint:rpmlint readelf:binutils cpio:cpio; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool%%:*} (apt-get install ${tool##*:})")
done
if $install; then
    [ "$(id -u)" = 0 ] || fail "installing the packages needs root; run as root or pass --no-install"
    for tool in man:man-db systemd-analyze:systemd; do
        command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool%%:*} (apt-get install ${tool##*:})")
    done
fi
[ "${#missing[@]}" -eq 0 ] || fail "missing: ${missing[*]}"

# The package's version and maintainer, from Cargo.toml; the target directory, from cargo.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
maintainer=$(sed -n 's/^maintainer = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
target_dir=$(cargo metadata --no-deps --format-version 1 --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$version" ] && [ -n "$maintainer" ] && [ -n "$target_dir" ] ||
    fail "cannot read the version, the maintainer or the target directory"
case "$profile" in
    dev | test) profile_dir=debug ;;
    bench) profile_dir=release ;;
    *) profile_dir=$profile ;;
esac
binary=$target_dir/$profile_dir/alloydb-cred
# A release package is compressed as distributions do (xz -6, zstd -19); one of another
# profile only checks the packaging, so it is compressed fast: no check looks at the
# compression level, and the two strongest levels are most of this script's time.
if [ "$profile" = release ]; then
    xz_level=6 zstd_level=19
else
    xz_level=1 zstd_level=3
fi

step "building the binary (profile $profile)"
cargo build --locked --profile "$profile" --bin alloydb-cred

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/alloydb-cred[_-]*.deb "$out"/alloydb-cred-*.rpm
work=$(mktemp -d "${TMPDIR:-/tmp}/alloydb-cred-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Debian compresses documentation (policy 12.3); cargo-deb compresses only the man pages
# and the changelog, so the README is compressed here ([package.metadata.deb] assets).
mkdir -p target/packaging
gzip -9nc README.md >target/packaging/README.md.gz

step "building the .deb"
# cargo-deb calls a non-release profile unsupported (a warning): the dev profile is only
# used to check the packaging, see --profile above. --fast: the archive is rebuilt below.
cargo deb --locked --no-build --profile "$profile" --fast --strip --no-dbgsym \
    --no-separate-debug-symbols --output "$out/"
deb=$(ls "$out"/alloydb-cred_"$version"-*.deb)
# cargo-deb writes no md5sums, which `dpkg --verify` and debsums check installed files
# against: add them and rebuild the archive (same files, owners and modes).
dpkg-deb --raw-extract "$deb" "$work/deb-tree"
(cd "$work/deb-tree" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
chmod 644 "$work/deb-tree/DEBIAN/md5sums"
dpkg-deb --root-owner-group -Zxz -z"$xz_level" --build "$work/deb-tree" "$deb" >/dev/null

step "building the .rpm"
# rpmbuild strips what it installs anyway; stripping first keeps its copy small.
strip --strip-unneeded -o "$work/alloydb-cred" "$binary"
# Packager: who built it (an RPM distribution's build system sets its own). The
# post-install step is brp-strip alone: Debian's brp-compress fails under dash, and the
# spec compresses the man pages itself. The payload is compressed with zstd, as Fedora's
# (at level 19 for a release).
rpmbuild -bb --quiet \
    --define "packager $maintainer" \
    --define "_binary_payload w${zstd_level}.zstdio" \
    --define "__os_install_post /usr/lib/rpm/brp-strip /usr/bin/strip" \
    --define "_topdir $work/rpmbuild" \
    --define "_sourcedir $repo" \
    --define "_rpmdir $work/rpms" \
    --define "alloydb_binary $work/alloydb-cred" \
    packaging/rpm/alloydb-cred.spec
rpm_file=$(ls "$work"/rpms/*/alloydb-cred-"$version"-*.rpm)
mv "$rpm_file" "$out/"
rpm_file=$out/$(basename "$rpm_file")

step "lintian --pedantic"
# Every tag is printed (-I --pedantic adds the informational and pedantic ones); an
# error or a warning fails the build, except the tags below, which check how a package
# enters Debian's archive and do not apply to one built outside it:
#   initial-upload-closes-no-bugs: the first Debian upload of a package closes its ITP
#     ("intent to package") bug; this package is not uploaded to Debian.
lintian_not_applicable='initial-upload-closes-no-bugs'
lintian --pedantic -I --color never --tag-display-limit 0 "$deb" 2>&1 |
    grep -v '^running with root privileges is not recommended!$' | tee "$work/lintian.txt" || true
if grep '^[EW]: ' "$work/lintian.txt" | grep -Evq ": ($lintian_not_applicable)( |$)"; then
    fail "lintian reports errors or warnings (above)"
fi

step "rpmlint"
# rpmlint's built-in configuration leaves to each distribution the list of valid
# licences and the man page compression; packaging/rpm/rpmlint.toml sets them as
# Fedora's and openSUSE's do (SPDX names, gzip). Nothing is filtered; an error or a
# warning fails the build, except:
#   no-signature: the package is signed by whoever publishes it (rpmsign), not here;
#   no-manual-page-for-binary: rpmlint 2.4 (Debian 12's) compares each binary's name
#     with the *sections* of the man pages it found (FilesCheck collects the `category`
#     of man/manCATEGORY/), so it reports every binary; check_tree below checks that
#     /usr/share/man/man1/alloydb-cred.1.gz is there.
rpmlint_allowed='no-signature|no-manual-page-for-binary alloydb-cred'
rpmlint --config packaging/rpm/rpmlint.toml "$rpm_file" 2>&1 | tee "$work/rpmlint.txt" || true
grep -q ' packages and 0 specfiles checked' "$work/rpmlint.txt" || fail "rpmlint did not run"
if grep -E '^[^ ]+: [EW]: ' "$work/rpmlint.txt" | grep -Evq ": [EW]: ($rpmlint_allowed)$"; then
    fail "rpmlint reports errors or warnings (above)"
fi

step "checking what the packages hold"
check_tree() { # what root
    local what=$1 root=$2 page
    local bin=$root/usr/bin/alloydb-cred
    [ -x "$bin" ] || fail "$what: no executable /usr/bin/alloydb-cred"
    if readelf --sections --wide "$bin" | grep -Eq ' \.(symtab|debug_[a-z]+) '; then
        fail "$what: /usr/bin/alloydb-cred is not stripped"
    fi
    for page in man/*.1 man/*.5; do
        local name=${page#man/}
        [ -f "$root/usr/share/man/man${name##*.}/$name.gz" ] ||
            fail "$what: no /usr/share/man/man${name##*.}/$name.gz"
    done
    if find "$root/usr/share/man" -type f ! -name '*.gz' | grep -q .; then
        fail "$what: uncompressed man pages"
    fi
    for unit in packaging/systemd/system/* packaging/systemd/user/*; do
        local scope=${unit#packaging/systemd/}
        cmp -s "$unit" "$root/usr/lib/systemd/${scope%%/*}/$(basename "$unit")" ||
            fail "$what: /usr/lib/systemd/${scope%%/*}/$(basename "$unit") differs from $unit"
    done
}
mkdir "$work/deb" "$work/rpm"
dpkg-deb --extract "$deb" "$work/deb"
check_tree .deb "$work/deb"
for doc in README.md.gz changelog.Debian.gz copyright; do
    [ -f "$work/deb/usr/share/doc/alloydb-cred/$doc" ] || fail ".deb: no /usr/share/doc/alloydb-cred/$doc"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$work/deb" ./postinst ./prerm ./postrm
grep -q 'daemon-reload' "$work/deb/postinst" || fail ".deb: postinst does not reload systemd"
grep -q "try-restart 'alloydb-cred@\*.service'" "$work/deb/postinst" ||
    fail ".deb: postinst does not restart the running instances"
grep -q "stop 'alloydb-cred@\*.service'" "$work/deb/prerm" || fail ".deb: prerm does not stop the instances"
grep -q 'daemon-reload' "$work/deb/postrm" || fail ".deb: postrm does not reload systemd"
starts_units() { # file: whether a command in it enables, starts or restarts (not try-) a unit
    grep -v '^[[:space:]]*#' "$1" | grep -Eq '(systemctl|deb-systemd-(invoke|helper))( --[a-z-]+)* (enable|start|restart|preset)\b'
}
if starts_units "$work/deb/postinst"; then
    fail ".deb: postinst enables or starts a unit"
fi

(cd "$work/rpm" && rpm2cpio "$rpm_file" | cpio --extract --make-directories --quiet)
check_tree .rpm "$work/rpm"
for doc in doc/alloydb-cred/README.md licenses/alloydb-cred/LICENSE; do
    [ -f "$work/rpm/usr/share/$doc" ] || fail ".rpm: no /usr/share/$doc"
done
rpm -qp --scripts "$rpm_file" >"$work/scripts.txt"
for want in "daemon-reload" "try-restart 'alloydb-cred@\*.service'" "stop 'alloydb-cred@\*.service'"; do
    grep -q "$want" "$work/scripts.txt" || fail ".rpm: no scriptlet runs systemctl $want"
done
if starts_units "$work/scripts.txt"; then
    fail ".rpm: a scriptlet enables or starts a unit"
fi
[ -n "$(rpm -qp --queryformat '%{URL}' "$rpm_file")" ] || fail ".rpm: no URL"

# Run each maintainer script and scriptlet as dpkg and rpm would on a system running
# systemd, with systemctl and deb-systemd-invoke replaced by programs that record their
# arguments (one user manager, UID 1000, is running), and compare what they did.
mkdir -p "$work/stubs" "$work/run-systemd"
for stub in systemctl deb-systemd-invoke; do
    cat >"$work/stubs/$stub" <<STUB
#!/bin/sh
echo "$stub \$*" >>"$work/calls"
case "\$*" in *list-units*) echo 'user@1000.service loaded active running User Manager for UID 1000' ;; esac
STUB
    chmod 755 "$work/stubs/$stub"
done
expect_calls() { # what script-file want [args...]
    local what=$1 script=$2 want=$3
    shift 3
    sed "s#/run/systemd/system#$work/run-systemd#g" "$script" >"$work/script"
    : >"$work/calls"
    PATH="$work/stubs:/usr/bin:/bin" sh -e "$work/script" "$@" || fail "$what $* failed"
    [ "$(cat "$work/calls")" = "$want" ] ||
        fail "$what $*: ran
$(cat "$work/calls")
expected
$want"
}
reload='systemctl --system daemon-reload'
restart="deb-systemd-invoke try-restart alloydb-cred@*.service"
stop="deb-systemd-invoke stop alloydb-cred@*.service
deb-systemd-invoke --user stop alloydb-cred.service alloydb-cred-refresh.timer alloydb-cred-refresh.service"
expect_calls .deb "$work/deb/postinst" "$reload" configure ""
expect_calls .deb "$work/deb/postinst" "$reload
$restart" configure 0.0.1-1
expect_calls .deb "$work/deb/prerm" "" upgrade "$version-2"
expect_calls .deb "$work/deb/prerm" "$stop" remove
expect_calls .deb "$work/deb/postrm" "" upgrade "$version-2"
expect_calls .deb "$work/deb/postrm" "$reload" remove
expect_calls .deb "$work/deb/postrm" "" purge
for tag in POSTIN PREUN POSTUN; do
    rpm -qp --queryformat "%{$tag}" "$rpm_file" >"$work/rpm-$tag"
done
reload='systemctl daemon-reload'
restart="systemctl try-restart alloydb-cred@*.service"
stop="systemctl stop alloydb-cred@*.service
systemctl list-units --no-legend --plain user@*.service
systemctl --user --machine=1000@ stop alloydb-cred.service alloydb-cred-refresh.timer alloydb-cred-refresh.service"
# $1: how many versions of the package are left installed.
expect_calls .rpm "$work/rpm-POSTIN" "$reload" 1
expect_calls .rpm "$work/rpm-POSTIN" "$reload" 2
expect_calls .rpm "$work/rpm-PREUN" "" 1
expect_calls .rpm "$work/rpm-PREUN" "$stop" 0
expect_calls .rpm "$work/rpm-POSTUN" "$reload
$restart" 1
expect_calls .rpm "$work/rpm-POSTUN" "$reload" 0
rpm -qp --changelog "$rpm_file" | grep -q "$version" || fail ".rpm: no %changelog entry for $version"

if $install; then
    step "installing the .deb"
    dpkg_options=()
    # Slim Debian images keep man pages out of every package (path-exclude in
    # /etc/dpkg/dpkg.cfg.d); re-include this package's pages, which are checked below.
    if grep -qs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
        dpkg_options+=("--path-include=/usr/share/man/man*/alloydb-cred*")
    fi
    dpkg -i "${dpkg_options[@]}" "$deb"
    /usr/bin/alloydb-cred --version
    test "$(man -w alloydb-cred)" = /usr/share/man/man1/alloydb-cred.1.gz
    test "$(man -w 5 alloydb-cred.toml)" = /usr/share/man/man5/alloydb-cred.toml.5.gz
    # The installed units, now with the binary and man pages in place (--man=yes looks
    # up Documentation=).
    systemd-analyze verify --man=yes /usr/lib/systemd/system/alloydb-cred@app.service
    XDG_RUNTIME_DIR="$work" systemd-analyze --user verify --man=yes /usr/lib/systemd/user/alloydb-cred*
    dpkg --purge alloydb-cred
    [ ! -e /usr/bin/alloydb-cred ] || fail "dpkg --purge left /usr/bin/alloydb-cred"

    step "installing the .rpm into a scratch root"
    rpm --root "$work/root" --initdb
    rpm --root "$work/root" -i --nodeps --noscripts "$rpm_file"
    rpm --root "$work/root" -V --nodeps alloydb-cred
    "$work/root/usr/bin/alloydb-cred" --version
fi

ls -l "$deb" "$rpm_file"
echo "package.sh: $(basename "$deb") and $(basename "$rpm_file") in $out ($((SECONDS - started)) s)"
