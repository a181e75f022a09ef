//! alloydb-cred(1) beyond the command line: how it works, its files, its environment,
//! its exit status, examples and notes on clients.

use crate::markup::Block::{Ex, P, Ss, Tp};
use crate::markup::{Block, Section};

/// Follows the program's long description from src/cli.rs.
pub const DESCRIPTION: &[Block] = &[
    P(
        "For every configured service, alloydb-cred owns exactly one *managed entry* in the \
       password file (a marker comment and one `host:port:*:user:token` line) and one \
       *managed section* in the service file. Every other byte of both files belongs to \
       the user and is kept exactly as it was; see FILES.",
    ),
    P(
        "A service is *due* when its entry is missing, when its host, port, credential \
       settings or a user named in the configuration changed, or when less than its \
       `refresh_window` of validity is left. Only due services get a new token, and \
       services whose token settings are equal (`credentials`, `impersonate`, `delegates` \
       and `scopes`) share one. A service whose token cannot be had keeps its previous \
       entry, and the other services are still written. The password file is written \
       before the service file, so a section never refers to a password that is not \
       there yet.",
    ),
    P(
        "The database user of a service is named in the configuration or, with \
       `user = \"auto\"` (the default), derived from the principal the token belongs to: \
       a user account logs in as its e-mail address, a service account as its e-mail \
       address without the `.gserviceaccount.com` suffix (for example \
       `app@my-project.iam`). When the configuration names a user and the token's \
       principal maps to another, the refresh of that service fails instead of writing \
       an entry the server would refuse. A user name longer than 63 bytes is refused, \
       because PostgreSQL truncates role names to 63 bytes.",
    ),
    P(
        "Tokens come from Application Default Credentials by default; a service-account \
       key, the metadata server, the gcloud CLI, any program, and impersonation on top of \
       them are configured with `credentials` and `impersonate` (see \
       alloydb-cred.toml(5)). Every token is written with its real expiry, as its issuer \
       or Google's tokeninfo endpoint states it, never an assumed one.",
    ),
];

/// Follows the OPTIONS section.
pub const AFTER_OPTIONS: &[Block] = &[P(
    "`--config`, `-v` and `-q` may also be given after the command name. Diagnostics go \
       to standard error, one line each, starting with `alloydb-cred: error:`, `warn:`, \
       `info:` or `debug:`; when standard error is systemd's journal, with the syslog \
       priority instead (see `JOURNAL_STREAM`).",
)];

/// The sections after OPTIONS, before SEE ALSO.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "CONFIGURATION",
        blocks: &[
            P(
                "The configuration is read from `--config` *PATH*, else from \
               `$ALLOYDB_CRED_CONFIG` (when set and not empty), else from \
               `alloydb-cred/config.toml` in the platform's configuration directory: \
               `$XDG_CONFIG_HOME` or `~/.config` on Linux, `~/Library/Application Support` \
               on macOS. Every command but `completions` needs it. It is TOML: \
               `[defaults]`, one `[services.`*NAME*`]` table per service, and \
               `[endpoints]`; alloydb-cred.toml(5) describes every key. A minimal one:",
            ),
            Ex("[services.prod]\n\
                host = \"10.1.2.3\"\n\
                dbname = \"appdb\"\n\
                sslmode = \"require\""),
        ],
    },
    Section {
        title: "FILES",
        blocks: &[
            Tp(
                "`~/.config/alloydb-cred/config.toml`",
                "The configuration (see CONFIGURATION).",
            ),
            Tp(
                "`~/.pgpass`",
                "libpq's password file: `$PGPASSFILE` if set, else this; `pgpass` in the \
                configuration names another.",
            ),
            Tp(
                "`~/.pg_service.conf`",
                "libpq's connection service file: `$PGSERVICEFILE` if set, else this; \
                `service_file` in the configuration names another.",
            ),
            Tp(
                "`.alloydb-cred.lock`",
                "The lock file in the directory of each managed file.",
            ),
            Tp(
                "`.alloydb-cred.mint.lock`",
                "Beside the password file: the locks that make concurrent refreshers mint \
                 each credential's token once. Lock files are empty and stay when the files \
                 are removed (`remove --all`): deleting one that another process holds or \
                 waits on would let two writers in at once.",
            ),
            Tp(
                "`~/.local/state/alloydb-cred/`",
                "The state directory, with `state.json`.",
            ),
            Ss("The password file"),
            P("Each managed entry is a marker comment followed by one line:"),
            Ex(
                "# alloydb-cred service=prod expires=20261129T010203Z cred=1f0c9a2e sum=6b1d04c7 owner=5d41402a\n\
                10.20.30.40:5432:*:app@my-project.iam:ya29.a0Af...",
            ),
            P(
                "The expiry is UTC in ISO 8601 basic format, so that the marker holds no colon \
               (node-postgres reads comment lines that start in the first column as \
               data). `cred` is a digest of the service's credential settings: when they \
               change, the entry is due at once. `sum` is a digest of the entry line, so a \
               marker followed by any other line (after a hand edit) claims nothing and \
               both lines stay the user's. `owner` is a digest of the configuration file's \
               path, so that two configurations sharing the files keep their entries \
               apart; an entry without it (written by an earlier version) is refreshed \
               once to get it. The database field is always `*`. In the host, user and \
               token fields, `\\` is written as `\\\\` and `:` as `\\:` (an IPv6 host such \
               as `fd00::1` becomes `fd00\\:\\:1`).",
            ),
            P(
                "All managed entries are written as one block at the top of the file, latest \
               expiry first, because libpq uses the first matching line: services that \
               share host, port and user hand it the token with the most time left. \
               Managed entries found elsewhere in the file are moved into that block. \
               Every other byte is kept exactly: comments, blank lines, CRLF line ends, \
               bytes that are not UTF-8, a missing final newline. A line of the user's own \
               for the same host, port and user is hidden from libpq by the managed entry \
               above it: `refresh` warns about it once, `status` every time.",
            ),
            P(
                "A new password file is created with mode 0600. An existing one keeps its \
               owner and mode, except that group and other access is removed (with a \
               warning) once it holds tokens; libpq ignores a password file that group or \
               others can read anyway.",
            ),
            Ss("The service file"),
            P("Each managed section is framed by marker comments:"),
            Ex(
                "# alloydb-cred begin service=prod owner=5d41402a (managed by alloydb-cred for /home/kai/.config/alloydb-cred/config.toml; edits here are overwritten)\n\
                [prod]\n\
                host=10.20.30.40\n\
                port=5432\n\
                dbname=orders\n\
                user=app@my-project.iam\n\
                sslmode=require\n\
                # alloydb-cred end service=prod",
            ),
            P(
                "The begin marker names the configuration that owns the section: by digest, \
               and by path when the line stays within the 253 bytes libpq before \
               PostgreSQL 14 reads. Keywords are written in the order `host`, `port`, \
               `dbname`, `user`, `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, \
               `options`, the `libpq` table, then `passfile`. Only keywords pgjdbc also \
               accepts are written, unless the configuration adds others through `libpq`; \
               `refresh` warns about those. The token never goes into the service file. \
               `passfile=` is written only when the password file is not the one libpq \
               finds by itself, that is, when it differs from `$PGPASSFILE` (or, with \
               that unset, `~/.pgpass`) in alloydb-cred's own environment.",
            ),
            P(
                "As in the password file, managed sections are written as one block at the \
               top and every other byte is kept. Lines added inside a managed frame are \
               dropped at the next refresh, as its begin marker says; a section header \
               added inside it makes the whole frame the user's text. A section the user \
               wrote is never changed: when the file already has a `[`*NAME*`]` section \
               that alloydb-cred did not write, refreshing service *NAME* fails with exit \
               status 2 and its section is not written; rename the service or the other \
               section. Likewise, a setting above the file's first section header is an \
               error, because libpq would attach it to the section above it. A \
               `keyword=value` line longer than 253 bytes is refused. A new service file is \
               created with mode 0600; an existing one keeps its mode and owner.",
            ),
            Ss("How the files are written"),
            P(
                "A writer first takes an exclusive lock on the file `.alloydb-cred.lock` in \
               the directory of each file (one per directory, shared by every file in it), \
               waiting at most `lock_timeout` (60 seconds unless configured) and then \
               failing with exit status 1, naming the process that holds it. A directory \
               that cannot hold a lock file cannot take the new file either: that is an \
               error naming the lock file. A lock file is never opened \
               through a symbolic link. Under the lock the writer reads the files again \
               and decides again, so that refreshers running at once (cron, a shell, \
               `token`, `exec`, a `refresh --watch` loop) obtain each token once.",
            ),
            P("The new content goes to a temporary file \
               `.`*NAME*`.alloydb-cred-`*XXXXXX*`.tmp` in the same directory, created with \
               mode 0600, is flushed to disk and renamed over the file, and the directory \
               is flushed too: readers see the old file or the new one, never a mix. The \
               directory must therefore be writable. Temporary files left by an \
               interrupted writer are removed by the next write. A symbolic link is \
               followed and left in place; the file it points to is replaced. Anything \
               that is not a regular file (a directory, FIFO or device) is refused."),
            P(
                "When the rename is refused because the file is a single-file bind mount \
               (`EBUSY`) or lies on another file system than its directory (`EXDEV`), the \
               new content is written into the existing file instead, still under the \
               lock: the space is reserved first, so that a full disk fails before \
               anything is overwritten, and the old content is put back if the write \
               fails. That write is not atomic for readers.",
            ),
            Ss("Two configurations, one pair of files"),
            P(
                "A configuration manages only the entries and sections whose markers name it \
               (and those written before markers named an owner). When a second \
               configuration claims a service that another one holds in the same files, \
               its refresh of that service fails with exit status 2, naming both: rename \
               the service in one of them, or give them different `pgpass` and \
               `service_file`. When the configuration file named in the other's section \
               marker no longer exists, the entry and section are taken over with a \
               warning. `status` and `remove` see only their own configuration's entries.",
            ),
            Ss("The state directory"),
            P(
                "`$ALLOYDB_CRED_STATE_DIR` if set and not empty, else on Linux \
               `$XDG_STATE_HOME/alloydb-cred` or, without `XDG_STATE_HOME`, \
               `~/.local/state/alloydb-cred`; on macOS `~/Library/Caches/alloydb-cred`. It \
               is created with mode 0700 and refused (exit status 2) when someone else owns \
               it or group or others can write to it. It holds `state.json` (mode 0600): \
               each service's last error, last refresh and token breadth, shown by \
               `status`; the e-mail address behind each user credential, keyed by a digest \
               of the credential, so that tokeninfo is asked once; and which hidden \
               password-file lines `refresh` has warned about. Never a token or a \
               credential. It also holds the state file's lock.",
            ),
        ],
    },
    Section {
        title: "ENVIRONMENT",
        blocks: &[
            Tp(
                "`ALLOYDB_CRED_CONFIG`",
                "The configuration file, when `--config` is not given.",
            ),
            Tp(
                "`ALLOYDB_CRED_STATE_DIR`",
                "The state directory (see FILES).",
            ),
            Tp(
                "`ALLOYDB_CRED_CLOCK_OFFSET_FILE`",
                "For the test suite only: a file holding seconds to add to the clock, so \
                that tests can make it jump under a running `refresh --watch`. Leave it \
                unset.",
            ),
            Tp(
                "`PGPASSFILE`",
                "The default of `pgpass`, and what decides whether sections need \
                `passfile=`. `exec` sets it for the command it runs.",
            ),
            Tp(
                "`PGSERVICEFILE`",
                "The default of `service_file`. `exec` sets it for the command it runs.",
            ),
            Tp(
                "`PGSERVICE`",
                "Not read; `exec` sets it for the command it runs.",
            ),
            Tp(
                "`GOOGLE_APPLICATION_CREDENTIALS`",
                "The credentials file of the `\"adc\"` source.",
            ),
            Tp(
                "`CLOUDSDK_CONFIG`",
                "gcloud's configuration directory (default `~/.config/gcloud`), where \
                `\"adc\"` looks for `application_default_credentials.json` and `discover` \
                for the active configuration's project.",
            ),
            Tp(
                "`CLOUDSDK_CORE_PROJECT`",
                "The project `discover` lists when no `--project` is given; it wins over \
                gcloud's configured project.",
            ),
            Tp(
                "`CLOUDSDK_ACTIVE_CONFIG_NAME`",
                "Which gcloud configuration `discover` reads the project of (default: the \
                one gcloud's `active_config` file names).",
            ),
            Tp(
                "`PGSYSCONFDIR`",
                "Where `doctor` looks for a system-wide `pg_service.conf` that defines the \
                same services (else `pg_config --sysconfdir`).",
            ),
            Tp(
                "`AWS_REGION`, `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`, \
                `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`",
                "The region and keys of an AWS-sourced external account; without them, \
                the EC2 instance metadata the credentials file names.",
            ),
            Tp(
                "`GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES`",
                "Must be `1` for an executable-sourced external account to run its \
                program, as Google's libraries require. The program receives \
                `GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE`, `_TOKEN_TYPE`, `_INTERACTIVE`, \
                `_IMPERSONATED_EMAIL` and `_OUTPUT_FILE`.",
            ),
            Tp(
                "`GCE_METADATA_HOST`",
                "The metadata server's *host* or *host*`:`*port* (default \
                `metadata.google.internal`).",
            ),
            Tp(
                "`SSL_CERT_FILE`, `SSL_CERT_DIR`",
                "A file or directory of trusted CA certificates (PEM), read instead of the \
                system's store: for networks that inspect TLS with their own CA.",
            ),
            Tp(
                "`HTTPS_PROXY`, `ALL_PROXY`, `HTTP_PROXY`, `NO_PROXY`",
                "(also in lower case) The proxy for requests to Google's endpoints, and the \
                hosts that bypass it. Requests to loopback addresses and to the metadata \
                server always go direct.",
            ),
            Tp(
                "`NOTIFY_SOCKET`",
                "Set by systemd for a `Type=notify` service: `refresh --watch` reports \
                readiness, a status line, reloading and stopping there.",
            ),
            Tp(
                "`WATCHDOG_USEC`",
                "Set by systemd with `WatchdogSec=`: `refresh --watch` pings the watchdog \
                at least twice per interval.",
            ),
            Tp(
                "`JOURNAL_STREAM`",
                "Set by systemd when standard error goes to the journal. When it names the \
                stream standard error really is, each diagnostic line starts with its \
                syslog priority (`<3>` error, `<4>` warning, `<6>` information, `<7>` \
                debugging) instead of the program's name.",
            ),
            Tp(
                "`PATH`",
                "Where `gcloud`, token commands and `exec`'s command are looked up.",
            ),
            Tp(
                "`HOME`",
                "The home directory, for `~` and the default paths (without it, the user \
                database is asked).",
            ),
            Tp(
                "`XDG_CONFIG_HOME`, `XDG_STATE_HOME`",
                "On Linux, the base of the default configuration and state directories.",
            ),
            P(
                "`ALLOYDB_CRED_CONFIG`, `ALLOYDB_CRED_STATE_DIR`, `PGPASSFILE`, \
               `PGSERVICEFILE`, `GOOGLE_APPLICATION_CREDENTIALS`, `CLOUDSDK_CONFIG` and \
               `GCE_METADATA_HOST` count as unset when empty.",
            ),
        ],
    },
    Section {
        title: "EXIT STATUS",
        blocks: &[
            Tp(
                "`0`",
                "Success. For `status --check`: every service checked has an unexpired entry with \
                enough time left.",
            ),
            Tp(
                "`1`",
                "A runtime failure: a token source failed (a token command or gcloud failed, \
                timed out or printed something unusable; a Google endpoint refused, kept \
                failing or did not answer in time), a file could not be read or written, \
                or a lock was held longer than `lock_timeout`. For `status --check`: a \
                service has no unexpired entry, or less time left than `--min-left`.",
            ),
            Tp(
                "`2`",
                "A usage or configuration error, which retrying will not help: a bad \
                command line, a missing or invalid configuration, an unknown service, an \
                unusable credentials file, a user that does not match the token's \
                principal, a service-file section alloydb-cred will not overwrite, a \
                service another configuration holds in the same files, a state directory \
                that is not private.",
            ),
            Tp("`3`", "`doctor` found a problem (warnings alone exit 0)."),
            P(
                "When `refresh` fails for several services, it exits with 2 if any of the \
               failures is of the second kind, else with 1; the services that succeeded \
               are written all the same. `exec` exits with the status of the command it \
               runs (see alloydb-cred-exec(1)). `refresh --watch` exits with 0 on SIGTERM \
               or SIGINT.",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        blocks: &[
            P("A configuration with two services:"),
            Ex("# ~/.config/alloydb-cred/config.toml\n\
                [defaults]\n\
                credentials = \"adc\"     # gcloud auth application-default login, a key, or the metadata server\n\
                refresh_window = \"15m\"\n\
                \n\
                [services.prod]\n\
                host = \"10.20.30.40\"\n\
                dbname = \"orders\"\n\
                sslmode = \"require\"\n\
                \n\
                [services.reporting]\n\
                host = \"10.20.30.41\"\n\
                dbname = \"analytics\"\n\
                user = \"reporter@my-project.iam\"\n\
                credentials = { command = [\"/usr/local/bin/reporting-token\", \"--json\"], timeout = \"10s\" }\n\
                libpq = { application_name = \"nightly-reports\" }"),
            P("Obtain the first tokens, then look at them:"),
            Ex("alloydb-cred -v refresh\n\
                alloydb-cred status"),
            P(
                "Keep them fresh from cron (`crontab -e`; cron's `PATH` is short, so the line \
               puts `~/.cargo/bin` in front of it, for a `cargo install`):",
            ),
            Ex("*/5 * * * * PATH=\"$HOME/.cargo/bin:$PATH\" alloydb-cred -q refresh"),
            P(
                "Or keep a refresh loop running as a systemd user service (the packages \
               install `alloydb-cred.service`):",
            ),
            Ex("systemctl --user enable --now alloydb-cred.service"),
            P("Connect:"),
            Ex("PGSERVICE=prod psql\n\
                psql \"service=prod\"\n\
                pg_dump \"service=prod\" -Fc -f orders.dump"),
            P(
                "Run a program with a token that is valid now, without waiting for the next \
               refresh:",
            ),
            Ex("alloydb-cred exec --service prod -- psql -c 'select current_user'"),
            P("In pgAdmin 4, set the server's *Password exec command* to"),
            Ex("alloydb-cred token --service prod"),
            P(
                "(with the full path if pgAdmin's `PATH` does not include it). Check from a \
               script or a probe that every token has at least ten minutes left:",
            ),
            Ex("alloydb-cred status --check --min-left 10m"),
        ],
    },
    Section {
        title: "SECURITY",
        blocks: &[P(
            "Tokens are written only to the password file, never to the service file, \
               and printed only by `token`, on standard output. They never appear in \
               command lines, logs, errors, the state file or `status`: one redactor \
               covers every line the program prints or stores. \
               Every answer from a server or token command is checked before it reaches a \
               file: a principal must look like a Google account's e-mail address, a \
               database user is at most 63 bytes, no value may carry a control \
               character, and an expiry in the past or more than 12 hours ahead is \
               refused; a refused answer is exit status 1 and both files stay as they \
               were. Requests go over `https://` only, except to loopback addresses and \
               the metadata server, and redirects are never followed. Trusted are the \
               configuration file, the system's certificate store (or `SSL_CERT_FILE`) and \
               the metadata server on its link-local address.",
        )],
    },
    Section {
        title: "CLIENT NOTES",
        blocks: &[
            Tp(
                "libpq clients",
                "(psql, pg_dump, psycopg, pgAdmin, and drivers built on libpq) use both \
                files as they are: `PGSERVICE=prod` or `service=prod`.",
            ),
            Tp(
                "pgjdbc (DBeaver, DataGrip, other JDBC tools)",
                "need the URL `jdbc:postgresql://?service=`*NAME*. pgjdbc rejects a whole \
                section that holds a keyword it does not know (among them `passfile` and \
                most keywords of the `libpq` table), and finds the password only at \
                `$PGPASSFILE` or `~/.pgpass`, never through `passfile=`. Java's `~` is the \
                home directory of the system's user database, not `$HOME`: where the two \
                differ (sudo, containers), set `PGSERVICEFILE` and `PGPASSFILE`.",
            ),
            Tp(
                "asyncpg",
                "reads both files itself: the section named by a \
                `postgresql://?service=prod` DSN (asyncpg 0.31 or later; `PGSERVICE` alone \
                is ignored), or the password for an explicit host, port and user. IPv6 \
                hosts work in neither: it never unescapes `\\:` in the password file and \
                misreads `host=::1` in the service file. Give it the password yourself \
                (`alloydb-cred token`).",
            ),
            Tp(
                "node-postgres",
                "has no service files: give `host`, `port`, `user` and `database`. pg 8 \
                reads the password file itself, but its `pgpass` module 1.0.5 takes the \
                last matching line, not the first: a line of the user's own below the \
                managed block that matches the same connection wins over the token. Remove \
                such lines, or pass a `password` function that uses `pgpass` 1.0.6 or \
                later.",
            ),
            Tp(
                "old libpq",
                "Before PostgreSQL 13.0, 12.5, 11.10, 10.15, 9.6.20 and 9.5.24, libpq reads \
                at most 319 bytes of a password-file line, so long tokens fail there.",
            ),
        ],
    },
];

/// Pages named in SEE ALSO after the program's own.
pub const SEE_ALSO: &[(&str, &str)] = &[("psql", "1"), ("pg_dump", "1"), ("crontab", "5")];
