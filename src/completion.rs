//! The completion scripts: clap_complete's, with what it cannot say by itself. Service
//! names come from the configuration the command line would use (through a hidden
//! command), durations from a short list, and no value that is not a path is ever
//! completed with file names.
//!
//! The additions are edits of clap_complete's text. Each edit must find what it
//! replaces: [`edited_script`] reports every one that did not, and the tests fail on
//! any, so a change of clap_complete's layout cannot silently undo them.

use clap::ValueHint;
use clap_complete::Shell;

/// The completion script for `shell`, as `alloydb-cred completions SHELL` prints it and
/// the packages install it; `cmd` is the command-line definition's command.
pub fn completion_script(shell: Shell, cmd: &mut clap::Command) -> Vec<u8> {
    edited_script(shell, cmd).0.into_bytes()
}

/// Options whose values get a word list. `--service` is completed from the configuration
/// (see [`SERVICES_HELPER`]).
const VALUES: &[(&str, &str)] = &[("--min-left", "30s 1m 5m 10m 15m")];

/// The hidden command the scripts run for service names, with the `--config` of the
/// command line being completed, so they list what that command would use.
const SERVICES_HELPER: &str = "__services";

/// The text edits of one script, each checked.
struct Edits {
    text: String,
    missed: Vec<String>,
}

impl Edits {
    /// Replaces every occurrence of `from`; records a miss when there is none.
    fn replace(&mut self, from: &str, to: &str) {
        if self.text.contains(from) {
            self.text = self.text.replace(from, to);
        } else {
            self.missed.push(from.to_string());
        }
    }
}

/// The script and the edits that found nothing to replace (empty when all applied).
///
/// clap_complete's bash script names the branch of each command one way where it picks
/// the branch and another way where it defines it, when the program's name holds a hyphen
/// (clap issue 6421), so that nothing completes after a command. The definitions are
/// renamed to match; if clap_complete is fixed, there is nothing to rename.
fn edited_script(shell: Shell, cmd: &mut clap::Command) -> (String, Vec<String>) {
    let name = cmd.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, cmd, &name, &mut script);
    let mut edits = Edits {
        text: String::from_utf8_lossy(&script).into_owned(),
        missed: Vec::new(),
    };
    match shell {
        Shell::Bash => {
            if name.contains('-') {
                const SEPARATOR: &str = "__subcmd__";
                let defined = format!("{}{SEPARATOR}", name.replace('-', SEPARATOR));
                let picked = format!("{}{SEPARATOR}", name.replace('-', "__"));
                // Nothing to rename once clap_complete names both alike.
                if edits.text.contains(&defined) {
                    edits.replace(&defined, &picked);
                }
            }
            bash(&mut edits, cmd);
        }
        Shell::Zsh => zsh(&mut edits),
        Shell::Fish => fish(&mut edits),
        _ => {}
    }
    (edits.text, edits.missed)
}

/// The long options (and the commands whose positional argument follows them) whose
/// values are not paths: after them bash must not fall back to file names when nothing
/// matches. An option that takes a path in any command is left out.
fn not_paths(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, not: &mut Vec<String>, paths: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            if !arg.get_action().takes_values() {
                continue;
            }
            let plain = !arg.get_possible_values().is_empty()
                || matches!(
                    arg.get_value_hint(),
                    ValueHint::Other
                        | ValueHint::Username
                        | ValueHint::Hostname
                        | ValueHint::EmailAddress
                        | ValueHint::Url
                );
            let key = match arg.get_long() {
                Some(long) => format!("--{long}"),
                None if arg.is_positional() && arg.get_index() == Some(1) => {
                    cmd.get_name().to_string()
                }
                None => continue,
            };
            if plain { &mut *not } else { &mut *paths }.push(key);
        }
        for sub in cmd.get_subcommands() {
            walk(sub, not, paths);
        }
    }
    let (mut not, mut paths) = (Vec::new(), Vec::new());
    let mut cmd = cmd.clone();
    cmd.build();
    walk(&cmd, &mut not, &mut paths);
    not.retain(|k| !paths.contains(k));
    not.sort();
    not.dedup();
    not
}

fn bash(edits: &mut Edits, cmd: &clap::Command) {
    let files = "\n                    COMPREPLY=(\"${cur}\")\n                    if [[ \"${BASH_VERSINFO[0]}\" -ge 4 ]]; then\n                        compopt -o nospace\n                    fi";
    edits.replace(
        &format!("--service){files}"),
        "--service)\n                    COMPREPLY=($(compgen -W \"$(_alloydb_cred_services)\" -- \"${cur}\"))",
    );
    // bash ignores these hints and offers file names.
    let plain_files = "\n                    COMPREPLY=($(compgen -f \"${cur}\"))";
    for (option, offer) in [
        ("--host", "COMPREPLY=($(compgen -A hostname -- \"${cur}\"))"),
        ("--impersonate", "COMPREPLY=()"),
        ("--user", "COMPREPLY=()"),
    ] {
        edits.replace(
            &format!("{option}){plain_files}"),
            &format!("{option})\n                    {offer}"),
        );
    }
    for (option, words) in VALUES {
        edits.replace(
            &format!("{option}){files}"),
            &format!("{option})\n                    COMPREPLY=($(compgen -W \"{words}\" -- \"${{cur}}\"))"),
        );
    }
    // clap_complete registers its function with `-o bashdefault -o default`: bash then
    // offers file names whenever it offers nothing, after `--service` as after `--config`.
    // The function registered instead turns that off where the value is not a path.
    let function = format!("_{}", cmd.get_name().replace('-', "__"));
    edits.replace(
        &format!("complete -F {function} "),
        "complete -F _alloydb_cred_complete ",
    );
    let not_paths = not_paths(cmd).join("|");
    edits.text.push_str(&format!(
        r#"
# clap_complete's completion, without file names where a value is not a path.
_alloydb_cred_complete() {{
    {function} "$@"
    local prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    if [[ "$prev" == "=" && ${{COMP_CWORD}} -ge 2 ]]; then
        prev="${{COMP_WORDS[COMP_CWORD-2]}}"
    fi
    case "$prev" in
        {not_paths})
            compopt +o default +o bashdefault 2>/dev/null
            ;;
    esac
    return 0
}}

# The configured services, from the configuration the command line would use:
# `--config FILE` or `--config=FILE` (which bash splits at `=`), `~/` expanded.
_alloydb_cred_services() {{
    local i file config=()
    for (( i = 1; i < ${{#COMP_WORDS[@]}} - 1; i++ )); do
        case "${{COMP_WORDS[i]}}" in
            --config)
                file="${{COMP_WORDS[i+1]}}"
                if [[ "$file" == "=" ]]; then
                    file="${{COMP_WORDS[i+2]}}"
                fi
                ;;
            --config=*) file="${{COMP_WORDS[i]#--config=}}" ;;
            *) continue ;;
        esac
        case "$file" in
            "~") file="$HOME" ;;
            "~/"*) file="$HOME/${{file#"~/"}}" ;;
        esac
        config=(--config "$file")
    done
    "${{COMP_WORDS[0]}}" "${{config[@]}}" {SERVICES_HELPER} 2>/dev/null
}}
"#
    ));
}

fn zsh(edits: &mut Edits) {
    let before = edits.text.clone();
    let lines: Vec<String> = edits
        .text
        .lines()
        .map(|line| {
            if line.contains("--service=[") {
                line.replace(":NAME:'", ":NAME:_alloydb_cred_services'")
            } else {
                line.to_string()
            }
        })
        .collect();
    edits.text = lines.join("\n");
    edits.text.push('\n');
    if edits.text == before {
        edits.missed.push("--service=[…]:NAME:'".to_string());
    }
    edits.replace(
        "autoload -U is-at-least\n",
        &format!(
            r#"autoload -U is-at-least

# The configured services, from the configuration the command line would use:
# `--config FILE` or `--config=FILE`, `~/` expanded.
(( $+functions[_alloydb_cred_services] )) ||
_alloydb_cred_services() {{
    local -a config services
    local i file
    for (( i = 2; i < CURRENT; i++ )); do
        case $words[i] in
            --config) file=$words[i+1] ;;
            --config=*) file=${{words[i]#--config=}} ;;
            *) continue ;;
        esac
        file=${{file/#\~\//$HOME/}}
        [[ $file == '~' ]] && file=$HOME
        config=(--config "$file")
    done
    services=(${{(f)"$(${{words[1]}} $config {SERVICES_HELPER} 2>/dev/null)"}})
    _describe 'service' services
}}
"#
        ),
    );
}

fn fish(edits: &mut Edits) {
    let mut out = format!(
        r#"# The configured services, from the configuration the command line would use:
# `--config FILE` or `--config=FILE`, `~/` expanded.
function __fish_alloydb_cred_services
    set -l tokens (commandline -opc)
    set -l config
    set -l next 0
    for token in $tokens[2..-1]
        if test $next = 1
            set config --config $token
            set next 0
        else if test "$token" = --config
            set next 1
        else if string match -q -- '--config=*' $token
            set config --config (string replace -- '--config=' '' $token)
        end
    end
    if set -q config[2]
        set config[2] (string replace -r -- '^~(?=/|$)' $HOME $config[2])
    end
    $tokens[1] $config {SERVICES_HELPER} 2>/dev/null
end

"#
    );
    let mut found = false;
    for line in edits.text.lines() {
        out.push_str(line);
        if line.contains(" -l service ") {
            found = true;
            out.push_str(" -a \"(__fish_alloydb_cred_services)\"");
        }
        out.push('\n');
    }
    if !found {
        edits.missed.push(" -l service ".to_string());
    }
    edits.text = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_edit_of_clap_completes_output_applies() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let (script, missed) = edited_script(shell, &mut crate::cli::Cli::command());
            assert!(missed.is_empty(), "{shell}: not found: {missed:?}");
            assert!(script.contains(SERVICES_HELPER), "{shell}");
        }
    }

    #[test]
    fn a_missing_layout_is_reported_not_ignored() {
        let mut edits = Edits {
            text: "abc".into(),
            missed: Vec::new(),
        };
        edits.replace("b", "x");
        edits.replace("zz", "y");
        assert_eq!(
            (edits.text.as_str(), edits.missed),
            ("axc", vec!["zz".into()])
        );
        let mut other = Edits {
            text: "complete -c prog -l verbose\n".into(),
            missed: Vec::new(),
        };
        fish(&mut other);
        assert_eq!(other.missed, [" -l service "]);
    }

    #[test]
    fn file_names_are_off_after_values_that_are_not_paths() {
        let not = not_paths(&crate::cli::Cli::command());
        for key in [
            "--service",
            "--user",
            "--host",
            "--min-left",
            "--project",
            "add",
        ] {
            assert!(not.iter().any(|k| k == key), "{key}: {not:?}");
        }
        for key in ["--config", "--credentials"] {
            assert!(!not.iter().any(|k| k == key), "{key}: {not:?}");
        }
    }
}
