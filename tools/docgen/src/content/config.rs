//! alloydb-cred.toml(5): every key of the configuration file, with its default and
//! limits. The keys are those of src/config/raw.rs, the limits those of
//! src/config/values.rs and of the file engine's value types; a test checks that every
//! key raw.rs accepts is named here.

use crate::markup::Block::{Ex, Ip, P, Tp};
use crate::markup::Section;

/// The page's name (and file name, with `.5`).
pub const PAGE: &str = "alloydb-cred.toml";

/// The NAME line's summary.
pub const SUMMARY: &str = "configuration file of alloydb-cred";

pub const SECTIONS: &[Section] = &[
    Section {
        title: "SYNOPSIS",
        blocks: &[P("`~/.config/alloydb-cred/config.toml` (Linux), \
               `~/Library/Application Support/alloydb-cred/config.toml` (macOS), or the \
               file named by `--config` or `$ALLOYDB_CRED_CONFIG`.")],
    },
    Section {
        title: "DESCRIPTION",
        blocks: &[
            P(
                "alloydb-cred(1) reads its configuration from the file given with \
               `--config`, else from `$ALLOYDB_CRED_CONFIG` when it is set and not empty, \
               else from `alloydb-cred/config.toml` in the platform's configuration \
               directory: `$XDG_CONFIG_HOME` or, without it, `~/.config` on Linux; \
               `~/Library/Application Support` on macOS. Every command but `completions` \
               needs the file; `refresh`, `token` and `exec` also need at least one \
               service in it.",
            ),
            P(
                "The file is TOML with three tables, each optional: `[defaults]`, one \
               `[services.`*NAME*`]` table per service, and `[endpoints]`. Unknown tables \
               and keys, values of the wrong type and values outside their limits are \
               refused with exit status 2 and a message that names the file, the line and \
               the key.",
            ),
        ],
    },
    Section {
        title: "VALUES",
        blocks: &[
            Tp(
                "Paths",
                "A path that is `~` or starts with `~/` is taken relative to the home \
                directory; any other relative path is relative to the directory of the \
                configuration file (whose own path is made absolute first, so that paths \
                written to the service file work from anywhere). This applies to `pgpass`, \
                `service_file`, `sslrootcert`, `sslcert`, `sslkey` and `key_file`, not to \
                the elements of a `command`. A path must not be empty or hold a control \
                character.",
            ),
            Tp(
                "Durations",
                "Strings such as `\"15m\"`, `\"90s\"`, `\"1h 30m\"` or `\"15 minutes\"`; \
                ISO 8601 durations such as `\"PT15M\"` are accepted too.",
            ),
            Tp(
                "Values written to the files",
                "`host`, `dbname`, `user`, `options`, the values of `libpq` and the paths \
                written to the service file must not be empty, hold a control character \
                (such as a newline) or start or end with white space, and each \
                `keyword=value` line they make must fit in 253 bytes, which is what libpq \
                before PostgreSQL 14 reads of a line. `host` and `user` may not hold white \
                space at all, nor be `*`.",
            ),
            Tp(
                "E-mail addresses",
                "(`impersonate`, `delegates`) must look like a Google account's: ASCII, one \
                `@`, letters, digits and `._%+-` before it, a domain of at least two labels \
                after it.",
            ),
        ],
    },
    Section {
        title: "[defaults]",
        blocks: &[
            P(
                "Settings for every service. The keys marked *per service* may also be set \
               in a `[services.`*NAME*`]` table, which then wins.",
            ),
            Tp(
                "`credentials =` *SOURCE*",
                "(*per service*) Where tokens come from; see CREDENTIALS. Default: \
                `\"adc\"`.",
            ),
            Tp(
                "`impersonate =` *EMAIL*",
                "(*per service*) A service account to impersonate: the source's token is \
                exchanged at the IAM Credentials API (`generateAccessToken`) for a token of \
                this service account, which then is the principal. See CREDENTIALS.",
            ),
            Tp(
                "`delegates = [`*EMAIL*`, ...]`",
                "(*per service*) The delegation chain for `impersonate`, in order. Setting \
                it without `impersonate` is an error.",
            ),
            Tp(
                "`scopes = [`*URL*`, ...]`",
                "(*per service*) The OAuth2 scopes to ask for, each an `https://` URL. \
                Default: `[\"https://www.googleapis.com/auth/alloydb.login\"]`, which lets \
                a token log in to a database and do nothing else. A token is never \
                broader than configured, with two exceptions that decide for themselves: \
                `\"gcloud\"` always yields a broad (`cloud-platform`) token, and a \
                `command` yields what its program prints. For those, this key only keeps \
                services with different scopes from sharing a token.",
            ),
            Ip(
                "A user's login made with plain `gcloud auth application-default login` \
                lacks the AlloyDB scope: its refresh then fails (exit status 1) and gives \
                the one command every such error gives, `gcloud auth application-default \
                login --scopes=https://www.googleapis.com/auth/alloydb.login,https://www.googleapis.com/auth/cloud-platform,https://www.googleapis.com/auth/userinfo.email,openid`. \
                If Google answers \"This app is blocked\" for that scope, log in with the \
                plain command and set \
                `scopes = [\"https://www.googleapis.com/auth/cloud-platform\"]` on the \
                service instead: the token written is then broad (it can act on every \
                Google Cloud API the user may use), which `alloydb-cred status` shows.",
            ),
            Tp(
                "`refresh_window =` *DURATION*",
                "(*per service*) Get a new token when less than this much validity is \
                left: at least 1 second and at most 55 minutes (tokens live about an \
                hour). Default: `\"15m\"`.",
            ),
            Tp(
                "`pgpass =` *PATH*",
                "The password file. Default: `$PGPASSFILE` if set and not empty, else \
                `~/.pgpass`.",
            ),
            Tp(
                "`service_file =` *PATH*",
                "The connection service file. Default: `$PGSERVICEFILE` if set and not \
                empty, else `~/.pg_service.conf`.",
            ),
            Tp(
                "`lock_timeout =` *DURATION*",
                "How long a writer waits for another one's lock on the files before it \
                fails (exit status 1), from 1 second to 1 hour. Default: `\"60s\"`.",
            ),
            P(
                "The defaults of `pgpass` and `service_file` come from the environment \
               alloydb-cred runs in: when it runs from cron, a timer or a service, set the \
               same variables there, or set these keys.",
            ),
        ],
    },
    Section {
        title: "[services.NAME]",
        blocks: &[
            P(
                "*NAME* is the service name clients use in `PGSERVICE=`*NAME* or \
               `service=`*NAME*: ASCII letters, digits, `_`, `-` and `.`, starting with a \
               letter or `_`, at most 63 characters, and not `DEFAULT` in any case. A name \
               with a dot must be quoted in TOML: `[services.\"prod.eu\"]`.",
            ),
            Tp(
                "`host =` *HOST*",
                "The host name or IP address of the instance, exactly as clients connect \
                to it: libpq matches the password file's host field as text. One host, not \
                a list; at most 253 bytes. Exactly one of `host` and `instance` is \
                required.",
            ),
            Tp(
                "`instance =` *NAME*",
                "Instead of `host`: an AlloyDB instance \
                (`projects/`*P*`/locations/`*R*`/clusters/`*C*`/instances/`*I*) or a Cloud \
                SQL for PostgreSQL connection name (*PROJECT*`:`*REGION*`:`*INSTANCE*), \
                resolved through the AlloyDB or Cloud SQL Admin API with a \
                `cloud-platform` token minted from the service's own credential and kept \
                in memory only (the role `roles/alloydb.client` or `roles/alloydb.viewer`, \
                or `roles/cloudsql.client`, is needed). The answer is cached in the state \
                directory and asked again when the token is re-minted and the answer is an \
                hour old, on `refresh --force`, or when these settings change. AlloyDB \
                services get `sslmode=require` (encrypted; Google publishes no CA to verify \
                direct connections with); Cloud SQL services get the server CA the Admin \
                API names in a file of the state directory and `sslmode=verify-ca` (or \
                `verify-full` with the instance's DNS name when its CA comes from \
                Certificate Authority Service), and the `sqlservice.login` scope by \
                default. Instances that cannot take a direct IAM login (AlloyDB requiring \
                connectors, Cloud SQL requiring client certificates) are refused with the \
                reason.",
            ),
            Tp(
                "`ip_type =` *TYPE*",
                "With `instance`: which address to use, `private` (the default), `public` \
                or `psc`.",
            ),
            Tp(
                "`pooled =` *BOOL*",
                "With an AlloyDB `instance`: connect through managed connection pooling \
                (port 6432), which must be enabled on the instance. Default: `false` (port \
                5432).",
            ),
            Tp(
                "`port =` *PORT*",
                "From 1 to 65535. Default: 5432, or what the instance's resolution says.",
            ),
            Tp(
                "`dbname =` *NAME*",
                "The database, written to the section. The password-file entry matches any \
                database.",
            ),
            Tp(
                "`user =` *USER*",
                "The database user: `\"auto\"` (the default) derives it from the token's \
                principal, a user account's e-mail address or a service account's without \
                `.gserviceaccount.com`; any other value is the role name itself, at most 63 \
                bytes. When the token's principal maps to another user than the one named, \
                the refresh fails rather than write an entry the server would refuse.",
            ),
            Tp(
                "`sslmode =` *MODE*",
                "One of `disable`, `allow`, `prefer`, `require`, `verify-ca` and \
                `verify-full`.",
            ),
            Tp(
                "`sslrootcert`, `sslcert`, `sslkey =` *PATH*",
                "Paths, expanded as described under VALUES and written to the section.",
            ),
            Tp(
                "`options =` *TEXT*",
                "libpq's `options` keyword, such as `\"-c search_path=app\"`.",
            ),
            Tp(
                "`libpq = {` *KEYWORD* `=` *VALUE*`, ... }`",
                "Further libpq connection keywords, such as \
                `libpq = { application_name = \"reports\", connect_timeout = \"10\" }`. \
                Values are strings (write numbers in quotes). Keywords with a key of their \
                own above, `service`, `password`, `passfile` and anything that is not a \
                libpq connection keyword are refused. They are written after the other \
                keywords, in alphabetical order. Keywords other than `sslpassword`, \
                `gsslib` and `replication` make pgjdbc (DBeaver, DataGrip) reject the \
                section; `refresh` warns about them.",
            ),
            Tp(
                "`credentials`, `impersonate`, `delegates`, `scopes`, `refresh_window`",
                "Override `[defaults]` for this service.",
            ),
        ],
    },
    Section {
        title: "[endpoints]",
        blocks: &[
            P(
                "URLs that replace Google's, for private access, restricted VIPs or tests. \
               Each must be an `https://` URL without white space, or `http://` to a \
               loopback address (`localhost`, `127.0.0.1`, `::1`): tokens and credentials \
               travel to them. A replacement wins over a URL a credentials file names. \
               Without one, a credentials file whose `universe_domain` is not \
               `googleapis.com` gets that universe's endpoints.",
            ),
            Tp(
                "`token =` *URL*",
                "The OAuth2 token endpoint (service-account keys, user credentials). \
                Default: the credentials file's `token_uri`, else \
                `https://oauth2.googleapis.com/token`. A service-account assertion's \
                audience stays the key's own `token_uri`.",
            ),
            Tp(
                "`tokeninfo =` *URL*",
                "Where a token's expiry, scopes and e-mail address are looked up when its \
                source did not say. Default: `https://oauth2.googleapis.com/tokeninfo`.",
            ),
            Tp(
                "`iamcredentials =` *URL*",
                "The base URL of the IAM Credentials API (impersonation). Default: \
                `https://iamcredentials.googleapis.com`.",
            ),
            Tp(
                "`sts =` *URL*",
                "The Security Token Service (workload identity federation). Default: the \
                credentials file's `token_url`, else `https://sts.googleapis.com/v1/token`.",
            ),
            Tp(
                "`alloydb_admin =` *URL*",
                "The AlloyDB Admin API, as scheme, host and port only (the version path is \
                added). Default: `https://alloydb.googleapis.com`.",
            ),
            Tp(
                "`sqladmin =` *URL*",
                "The Cloud SQL Admin API, as scheme, host and port only. Default: \
                `https://sqladmin.googleapis.com`.",
            ),
            Tp(
                "`timeout =` *DURATION*",
                "How long one request may take, from 1 second to 5 minutes. Default: \
                `\"10s\"`. Connection failures, time-outs and 5xx answers are retried with \
                jittered exponential backoff, three attempts in all.",
            ),
        ],
    },
    Section {
        title: "CREDENTIALS",
        blocks: &[
            P(
                "The `credentials` key selects the token source. Every source yields the \
               token, its real expiry (from the issuer's own answer, else from tokeninfo; \
               never assumed) and, where it can be known, the principal, which \
               `user = \"auto\"` turns into the database user. One token is minted per \
               distinct credential in a run and shared by every service that uses it. A \
               failure leaves the existing entries untouched; errors that need a person \
               (a revoked login, a missing permission) say what to run.",
            ),
            Tp(
                "`\"adc\"`",
                "Application Default Credentials, found as Google's libraries find them: \
                the file named by `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's \
                `application_default_credentials.json` (in `$CLOUDSDK_CONFIG`, else \
                `~/.config/gcloud`), else the metadata server. The file may be a \
                service-account key (`service_account`), user credentials \
                (`authorized_user`, from `gcloud auth application-default login`), an \
                impersonated service account (`impersonated_service_account`) or an \
                external account (`external_account`, workload identity federation) \
                whose subject token comes from a file, a URL, AWS (`environment_id` \
                `aws1`: keys from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and \
                `AWS_SESSION_TOKEN` or the EC2 instance role, the region from `AWS_REGION` \
                or the instance metadata, IMDSv2 when the file names a session-token URL) \
                or a program (`credential_source.executable`, run only when \
                `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`, with its `timeout_millis` of \
                5 to 120 seconds and its `output_file` cache). A user's e-mail address \
                comes from tokeninfo once and is remembered in the state directory. An \
                external account without impersonation has no e-mail address: such a \
                service needs `user`.",
            ),
            Tp(
                "`\"metadata\"`",
                "The GCE, GKE or Cloud Run metadata server (`GCE_METADATA_HOST` redirects \
                it); the principal is the e-mail address it reports. It hands out a cached \
                token until about five minutes before that expires, and the entry records \
                the time the server says is left.",
            ),
            Tp(
                "`{ key_file = \"`*PATH*`\" }`",
                "A service-account key: a JWT assertion signed with the key is exchanged at \
                the key's `token_uri` for a real access token (kept whole, trailing `.` \
                padding included). The principal is the key's `client_email`.",
            ),
            Tp(
                "`\"gcloud\"`",
                "The gcloud CLI on `PATH`: `gcloud config config-helper --format=json` \
                gives the token, its expiry and the account. With `impersonate`, \
                `gcloud auth print-access-token --impersonate-service-account=`*DELEGATES*`,`*TARGET* \
                gives the service account's token, whose expiry tokeninfo supplies. gcloud \
                may take up to 60 seconds.",
            ),
            Tp(
                "`{ command = [\"`*PROGRAM*`\", \"`*ARG*`\", ...], timeout = \"`*DURATION*`\" }`",
                "Any program, the escape hatch for custom token brokers. It is run directly, \
                not through a shell, with standard input from `/dev/null` and in a process \
                group of its own; a program name without a slash is looked up in `PATH`. \
                `timeout` (more than 0, at most 1 hour; default `\"30s\"`) limits how long \
                it may run, after which it is stopped with everything it started. A \
                non-zero exit status, a timeout or unusable output fails the services that \
                use it; the error quotes the end of its standard error with anything \
                token-like redacted.",
            ),
            Ip(
                "The program prints either a bare token or a JSON object with \
                `\"access_token\"` (required), `\"expires_in\"` (seconds) or `\"expiry\"` \
                (RFC 3339, such as `\"2026-11-29T01:02:03Z\"`), and optionally \
                `\"principal\"` (an e-mail address) and `\"scope\"` (space-separated, so \
                that `status` can say how broad the token is):",
            ),
            Ex(
                "{\"access_token\": \"ya29....\", \"expires_in\": 3599, \"principal\": \"robot@proj.iam.gserviceaccount.com\"}",
            ),
            Ip(
                "A token printed without an expiry is looked up at tokeninfo, which supplies \
                the expiry and, unless the program named one, the principal. A program that \
                prints an expiry but no principal needs `user` set in the service.",
            ),
            Tp(
                "`impersonate`, `delegates`",
                "On top of any source but `\"gcloud\"` (which impersonates by itself): the \
                source's token, which needs the `cloud-platform` scope, is exchanged at the \
                IAM Credentials API's `generateAccessToken` for a token of the impersonated \
                service account with the configured scopes, through the delegation chain \
                if one is given. A missing permission is reported with the \
                `gcloud iam service-accounts add-iam-policy-binding` command that grants \
                the Service Account Token Creator role.",
            ),
            P("Tokens go to tokeninfo in the body of a POST request, never in a URL."),
        ],
    },
    Section {
        title: "EXAMPLES",
        blocks: &[
            P(
                "The smallest useful file: Application Default Credentials, the database user \
               derived from them, the files where libpq looks by default.",
            ),
            Ex("[services.prod]\n\
                host = \"10.1.2.3\"\n\
                dbname = \"appdb\"\n\
                sslmode = \"require\""),
            P(
                "A service-account key impersonating a database service account, for two \
               instances that share the token:",
            ),
            Ex("[defaults]\n\
                credentials = { key_file = \"~/keys/deployer.json\" }\n\
                impersonate = \"db-reader@my-project.iam.gserviceaccount.com\"\n\
                \n\
                [services.orders]\n\
                host = \"10.20.30.40\"\n\
                dbname = \"orders\"\n\
                \n\
                [services.orders-replica]\n\
                host = \"10.20.30.50\"\n\
                dbname = \"orders\"\n\
                libpq = { application_name = \"orders-replica\" }"),
            P(
                "A sidecar container on GKE writing the files to a volume it shares with the \
               application:",
            ),
            Ex("[defaults]\n\
                credentials = \"metadata\"\n\
                pgpass = \"/run/pg/pgpass\"\n\
                service_file = \"/run/pg/pg_service.conf\"\n\
                \n\
                [services.app]\n\
                host = \"10.20.30.40\"\n\
                dbname = \"app\"\n\
                sslmode = \"require\""),
            P(
                "A program that prints tokens, and Google's endpoints reached through a \
               private address:",
            ),
            Ex("[defaults]\n\
                credentials = { command = [\"/usr/local/bin/token-broker\", \"--json\"], timeout = \"10s\" }\n\
                \n\
                [services.reports]\n\
                host = \"reports.db.internal\"\n\
                user = \"reporter@my-project.iam\"\n\
                \n\
                [endpoints]\n\
                tokeninfo = \"https://oauth2.example.internal/tokeninfo\"\n\
                timeout = \"20s\""),
        ],
    },
    Section {
        title: "FILES",
        blocks: &[Tp(
            "`~/.config/alloydb-cred/config.toml`",
            "The configuration, unless `--config` or `$ALLOYDB_CRED_CONFIG` names \
                another.",
        )],
    },
];
