//! SYNOPSIS lines from the clap definition: every option with its value name, repeatable
//! ones marked `...`, a required group as `(a | b)`, and `--` before a trailing command.
//! (clap_mangen's own synopsis leaves out value names.) Global options are summed up as
//! `[global options]`, described in their own section.

use clap::{Arg, ArgAction, Command};
use roff::{Inline, Roff, bold, italic, roman};

/// One `.SY`/`.YS` block per form: the program name, then `parts`.
pub fn block(roff: &mut Roff, program: &str, forms: &[Vec<Inline>]) {
    for parts in forms {
        roff.control("SY", [program]);
        roff.text(parts.clone());
    }
    roff.control("YS", []);
}

/// The usage of one command after the program's name: `[global options] NAME ARGS`.
pub fn command_form(cmd: &Command) -> Vec<Inline> {
    let mut parts = vec![
        roman("["),
        italic("global options"),
        roman("] "),
        bold(cmd.get_name()),
    ];
    for item in own_args(cmd) {
        parts.push(roman(" "));
        parts.extend(item);
    }
    parts
}

/// The program's own options (the global ones) in synopsis form.
pub fn global_form(cmd: &Command) -> Vec<Inline> {
    let mut parts = Vec::new();
    for arg in cmd
        .get_arguments()
        .filter(|a| shown(a) && a.is_global_set())
    {
        if !parts.is_empty() {
            parts.push(roman(" "));
        }
        parts.extend(optional(arg));
    }
    parts.push(roman(" "));
    parts.push(italic("command"));
    parts.push(roman(" ..."));
    parts
}

/// `(-h | --help | -V | --version)`.
pub fn help_form() -> Vec<Inline> {
    alternatives(["-h", "--help", "-V", "--version"].map(|flag| vec![bold(flag)]))
}

/// `(a | b | ...)`.
fn alternatives(items: impl IntoIterator<Item = Vec<Inline>>) -> Vec<Inline> {
    let mut parts = vec![roman("(")];
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            parts.push(roman(" | "));
        }
        parts.extend(item);
    }
    parts.push(roman(")"));
    parts
}

/// Whether an argument belongs in a synopsis: not hidden, not help or version.
fn shown(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && !matches!(
            arg.get_action(),
            ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
        )
}

/// The command's own arguments (not the global ones), each as a group of inlines:
/// options first, then a required group, then positionals.
fn own_args(cmd: &Command) -> Vec<Vec<Inline>> {
    let own = |a: &&Arg| shown(a) && !a.is_global_set();
    let mut grouped: Vec<&str> = Vec::new();
    let mut groups = Vec::new();
    for group in cmd.get_groups().filter(|g| g.is_required_set()) {
        let members: Vec<&Arg> = group
            .get_args()
            .filter_map(|id| cmd.get_arguments().find(|a| a.get_id() == id))
            .filter(own)
            .collect();
        if members.is_empty() {
            continue;
        }
        grouped.extend(members.iter().map(|a| a.get_id().as_str()));
        groups.push(alternatives(members.into_iter().map(bare)));
    }
    let mut items: Vec<Vec<Inline>> = cmd
        .get_arguments()
        .filter(own)
        .filter(|a| !a.is_positional() && !grouped.contains(&a.get_id().as_str()))
        .map(usage)
        .collect();
    items.extend(groups);
    items.extend(cmd.get_positionals().filter(own).map(usage));
    items
}

/// An argument as it is used: bare when required, else in brackets.
fn usage(arg: &Arg) -> Vec<Inline> {
    if arg.is_required_set() {
        bare(arg)
    } else {
        optional(arg)
    }
}

/// `[ARG]`, with `...` after the bracket when it may be repeated.
fn optional(arg: &Arg) -> Vec<Inline> {
    let mut parts = vec![roman("[")];
    let mut inner = bare(arg);
    let repeated = matches!(inner.last(), Some(Inline::Roman(t)) if t == "...");
    if repeated {
        inner.pop();
    }
    parts.extend(inner);
    parts.push(roman("]"));
    if repeated {
        parts.push(roman("..."));
    }
    parts
}

/// An argument without brackets: `--name VALUE`, `-v|--verbose`, `-- CMD...`, `SHELL`.
fn bare(arg: &Arg) -> Vec<Inline> {
    let mut parts = Vec::new();
    if arg.is_positional() {
        if arg.is_last_set() {
            parts.push(bold("--"));
            parts.push(roman(" "));
        }
        parts.push(italic(value_name(arg)));
    } else {
        match (arg.get_short(), arg.get_long()) {
            (Some(short), Some(long)) => {
                parts.push(bold(format!("-{short}")));
                parts.push(roman("|"));
                parts.push(bold(format!("--{long}")));
            }
            (Some(short), None) => parts.push(bold(format!("-{short}"))),
            (None, Some(long)) => parts.push(bold(format!("--{long}"))),
            (None, None) => {}
        }
        if takes_value(arg) {
            parts.push(roman(" "));
            parts.push(italic(value_name(arg)));
        }
    }
    if repeatable(arg) {
        parts.push(roman("..."));
    }
    parts
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values())
}

fn repeatable(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append | ArgAction::Count)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}
