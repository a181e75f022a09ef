//! Sections of the commands' own pages, after their options. A command not listed here
//! (a new one) gets a page all the same, from its definition alone.

use crate::markup::Block::{Ex, P, Tp};
use crate::markup::Section;

/// The extra sections of each command's page, by command name. The tests check that
/// every name here is a command.
pub const EXTRA: &[(&str, &[Section])] = &[
    ("refresh", REFRESH),
    ("token", TOKEN),
    ("exec", EXEC),
    ("status", STATUS),
    ("completions", COMPLETIONS),
    ("remove", REMOVE),
];

/// The extra sections of the command `name`'s page.
pub fn extra(name: &str) -> &'static [Section] {
    EXTRA
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&[], |(_, sections)| sections)
}

const REFRESH: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        blocks: &[P(
            "0 when every service is valid; otherwise 2 if any failure needs a change to \
               the configuration or the files (see alloydb-cred(1)), else 1. With \
               `--watch`: 2 when the configuration is wrong at the start, 0 on SIGTERM or \
               SIGINT. Once running, the loop does not exit on failures; it retries \
               them.",
        )],
    },
    Section {
        title: "EXAMPLES",
        blocks: &[
            P(
                "Every five minutes from cron (`crontab -e`; the `PATH` is cron's short one \
               with `~/.cargo/bin` in front, for a `cargo install`):",
            ),
            Ex("*/5 * * * * PATH=\"$HOME/.cargo/bin:$PATH\" alloydb-cred -q refresh"),
            P(
                "With the systemd user units the packages install: a timer that runs the \
               one-shot refresh, or the loop as a `Type=notify` service, which \
               `systemctl reload` makes re-read the configuration:",
            ),
            Ex("systemctl --user enable --now alloydb-cred-refresh.timer\n\
                systemctl --user enable --now alloydb-cred.service\n\
                systemctl --user reload alloydb-cred.service"),
            P(
                "New tokens for one service now, even though the current one is still \
               good:",
            ),
            Ex("alloydb-cred -v refresh --service prod --force"),
        ],
    },
];

const TOKEN: &[Section] = &[Section {
    title: "EXAMPLES",
    blocks: &[
        P("In pgAdmin 4, set the server's *Password exec command* to:"),
        Ex("alloydb-cred token --service prod"),
    ],
}];

const EXEC: &[Section] = &[
    Section {
        title: "EXIT STATUS",
        blocks: &[
            P("The command's own exit status when it ran; otherwise:"),
            Tp("`126`", "The command was found but could not be run."),
            Tp("`127`", "The command was not found."),
            Tp(
                "`1`, `2`",
                "No valid token could be had (see alloydb-cred(1)); the command was not \
                run.",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        blocks: &[Ex(
            "alloydb-cred exec --service prod -- psql -c 'select current_user'\n\
             alloydb-cred exec --service reporting -- pg_dump -Fc -f analytics.dump",
        )],
    },
];

const STATUS: &[Section] = &[
    Section {
        title: "OUTPUT",
        blocks: &[
            P(
                "The table has a row per service: SERVICE, USER (the database user; `auto` \
               while it is derived and no entry exists yet), HOST (*host*`:`*port*, an IPv6 \
               host in brackets), EXPIRES (UTC), LEFT, TOKEN and STATE; a state is followed \
               by `, no section` when the entry has no managed section. Below the table: \
               the paths of both files; notes when a token is broad, when sections carry \
               `passfile=` (pgjdbc clients then need `PGPASSFILE`), and for each line of \
               the user's own that a managed entry hides; the last error of each service; \
               entries of services no longer configured; and how many entries belong to \
               other configurations.",
            ),
            Tp(
                "`--json`",
                "One JSON object with `config`, `pgpass` and `service_file` (paths), \
                `pgjdbc_needs_pgpassfile` (true when sections carry `passfile=`), \
                `services`, `unconfigured_entries` (service names), \
                `entries_of_other_configurations` (a count) and `shadowed_lines` (objects \
                with `service`, `line` and `connection`, the hidden line's first four \
                fields). Each service has `name`, `user`, `host`, `port`, `dbname`, \
                `credentials` (the token source, described), `expires_at` (RFC 3339, or \
                null), `seconds_left` (or null), `state`, `token_scope` (`login-only`, \
                `broad`, `unknown`, or null), `service_section` (true or false), \
                `last_refreshed_at` (RFC 3339, or null) and `last_error` (or null).",
            ),
            Tp(
                "`--check`",
                "Nothing when every service checked passes. Otherwise a line per failing \
                service on standard output, such as `prod: no entry`, \
                `prod: expired 3m 10s ago` or \
                `prod: 4m 2s left, less than the 10m 0s asked for`, and exit status 1.",
            ),
        ],
    },
    Section {
        title: "EXAMPLES",
        blocks: &[
            P(
                "A Kubernetes probe, or a monitoring check, that every token has at least five \
               minutes left:",
            ),
            Ex("alloydb-cred status --check --min-left 5m"),
            P("The services that are not valid, with jq(1):"),
            Ex(
                "alloydb-cred status --json | jq -r '.services[] | select(.state != \"valid\") | .name'",
            ),
        ],
    },
];

const COMPLETIONS: &[Section] = &[Section {
    title: "EXAMPLES",
    blocks: &[
        P("The packages install the scripts for bash, zsh and fish. By hand, for one user:"),
        Ex(
            "alloydb-cred completions bash > ~/.local/share/bash-completion/completions/alloydb-cred\n\
            alloydb-cred completions fish > ~/.config/fish/completions/alloydb-cred.fish\n\
            alloydb-cred completions zsh > ~/.zfunc/_alloydb-cred",
        ),
        P("For zsh, `~/.zshrc` then needs `fpath=(~/.zfunc $fpath)` before `compinit`."),
    ],
}];

const REMOVE: &[Section] = &[Section {
    title: "EXAMPLES",
    blocks: &[
        P("After deleting a service from the configuration:"),
        Ex("alloydb-cred remove --service reporting"),
        P("Before uninstalling, give both files back as they were:"),
        Ex("alloydb-cred remove --all"),
    ],
}];
