//! The committed man pages and completions are what the generator writes now (the
//! product's tests run the bash completion), and the prose matches the code where a
//! machine can tell: the commands and options it names exist, the configuration page
//! names every key the configuration accepts, the environment section names every
//! variable the code reads, and every source in docs/man/ is read.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use clap::{Arg, Command};

use crate::content::{self, Source};
use crate::markup::{self, Block, Section};
use crate::{files_in, outputs, pages, product_command, product_metadata, repository_root, write};

fn command() -> Command {
    let (version, description) = product_metadata().expect("product metadata");
    let mut cmd = product_command(&version, &description).disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn sections(source: &Source) -> Vec<Section> {
    source.sections().unwrap_or_else(|e| panic!("{e}"))
}

/// The marked-up texts and the example blocks of some blocks.
fn texts(blocks: &[Block]) -> (Vec<&str>, Vec<&str>) {
    let (mut marked, mut examples) = (Vec::new(), Vec::new());
    for block in blocks {
        match block {
            Block::P(t) | Block::Ip(t) | Block::Ss(t) => marked.push(t.as_str()),
            Block::Tp(tag, body) => marked.extend([tag.as_str(), body.as_str()]),
            Block::Ex(lines) => examples.push(lines.as_str()),
        }
    }
    (marked, examples)
}

/// The text between backticks.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// Everything that may name a command or option: code spans of the prose and of the
/// command line's own descriptions, and example lines. With where each is from.
fn mentions() -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut add = |place: &str, marked: &[&str], examples: &[&str]| {
        for text in marked {
            for span in code_spans(text) {
                found.push((place.to_string(), span.to_string()));
            }
        }
        for block in examples {
            for line in block.lines().filter(|l| !l.trim_start().starts_with('#')) {
                found.push((place.to_string(), line.to_string()));
            }
        }
    };
    for source in content::all() {
        for section in sections(source) {
            let (marked, examples) = texts(&section.blocks);
            add(
                &format!("{} {}", source.path, section.title),
                &marked,
                &examples,
            );
        }
    }
    let cmd = command();
    for c in std::iter::once(&cmd).chain(pages::subcommands(&cmd)) {
        let mut marked = Vec::new();
        for text in [c.get_long_about(), c.get_after_help()]
            .into_iter()
            .flatten()
        {
            marked.push(text.to_string());
        }
        for arg in c.get_arguments() {
            if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
                marked.push(help.to_string());
            }
        }
        let marked: Vec<&str> = marked.iter().map(String::as_str).collect();
        add(&format!("src/cli.rs, {}", c.get_name()), &marked, &[]);
    }
    found
}

fn find_option<'a>(cmd: &'a Command, token: &str) -> Option<&'a Arg> {
    if let Some(long) = token.strip_prefix("--") {
        let long = long.split('=').next().unwrap_or_default();
        cmd.get_arguments().find(|a| a.get_long() == Some(long))
    } else {
        let short = token.strip_prefix('-')?.chars().next()?;
        cmd.get_arguments().find(|a| a.get_short() == Some(short))
    }
}

/// Whether `token` is an option of `cmd`: `--long`, `--long=value`, `-s`, or `-sss`.
fn is_option(cmd: &Command, token: &str) -> bool {
    if token.starts_with("--") {
        return find_option(cmd, token).is_some();
    }
    let shorts = &token[1..];
    !shorts.is_empty()
        && shorts
            .chars()
            .all(|c| cmd.get_arguments().any(|a| a.get_short() == Some(c)))
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|n| n.takes_values()) && !arg.is_positional()
}

/// Checks one `alloydb-cred ...` command line (the words after the program's name):
/// global options, a command, its options. Returns what is wrong.
fn check_command_line(root: &Command, words: &[&str]) -> Option<String> {
    let mut words = words.iter().copied().peekable();
    let mut current = root;
    let mut in_command = false;
    while let Some(word) = words.next() {
        if matches!(word, "|" | ">" | ">>" | "||" | "&&" | ";" | "--") {
            return None;
        }
        if word.starts_with('-') && word.len() > 1 {
            if !is_option(current, word) {
                return Some(format!("{word} is not an option of {}", current.get_name()));
            }
            if find_option(current, word).is_some_and(takes_value) && !word.contains('=') {
                words.next();
            }
        } else if !in_command {
            match root.find_subcommand(word) {
                Some(sub) => {
                    current = sub;
                    in_command = true;
                }
                None => return Some(format!("{word} is not a command")),
            }
        } else {
            // A positional value (a shell name, a service): nothing to check.
        }
    }
    None
}

/// What is wrong with a code span of the prose that names a command line or an option,
/// if anything.
fn prose_mistake(root: &clap::Command, text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    // `alloydb-cred ...` anywhere (a cron line starts with its schedule): every word after
    // it is part of the command line, so a misspelled command is caught too.
    if let Some(at) = words.iter().position(|w| *w == "alloydb-cred") {
        let rest = &words[at + 1..];
        let is_argument =
            |w: &&str| w.starts_with('-') || w.chars().all(|c| c.is_ascii_lowercase() || c == '-');
        return match rest.first() {
            Some(first) if is_argument(first) => check_command_line(root, rest),
            _ => None,
        };
    }
    // `refresh --watch`: a command and its options (another program's `psql --version`
    // is not ours to check).
    if let [first, second, ..] = words.as_slice() {
        if second.starts_with('-') && root.find_subcommand(first).is_some() {
            return check_command_line(root, &words);
        }
        return None;
    }
    // `--config`: an option of some command.
    if let [only] = words.as_slice() {
        let option = only.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
        if option.starts_with('-') && option.len() > 1 && option != "--" {
            let known = std::iter::once(root)
                .chain(root.get_subcommands())
                .any(|c| is_option(c, option));
            if !known {
                return Some("is no option of any command".to_string());
            }
        }
    }
    None
}

#[test]
fn commands_and_options_named_in_the_prose_exist() {
    let root = command();
    let wrong: Vec<String> = mentions()
        .into_iter()
        .filter_map(|(place, text)| {
            prose_mistake(&root, &text).map(|why| format!("{place}: `{text}`: {why}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "the prose names what does not exist:\n  {}",
        wrong.join("\n  ")
    );
}

#[test]
fn the_checks_above_catch_mistakes() {
    let root = command();
    assert!(check_command_line(&root, &["refresh", "--watch"]).is_none());
    assert!(check_command_line(&root, &["-vv", "--config", "x", "status", "--check"]).is_none());
    assert!(check_command_line(&root, &["refresh", "--wach"]).is_some());
    assert!(check_command_line(&root, &["refrsh"]).is_some());
    assert!(check_command_line(&root, &["token", "--check"]).is_some());
    // As the prose is read: a misspelled command after the program's name, an unknown
    // option alone; but not another program's options.
    assert!(prose_mistake(&root, "alloydb-cred refrsh").is_some());
    assert!(prose_mistake(&root, "*/5 * * * * alloydb-cred -q refrsh").is_some());
    assert!(prose_mistake(&root, "alloydb-cred refresh --watch").is_none());
    assert!(prose_mistake(&root, "--wach").is_some());
    assert!(prose_mistake(&root, "psql --version").is_none());
}

#[test]
fn extra_sections_belong_to_commands() {
    let root = command();
    for (name, source) in content::COMMANDS {
        assert!(
            root.find_subcommand(name).is_some(),
            "{} holds sections for `{name}`, which is not a command",
            source.path
        );
    }
}

#[test]
fn every_source_in_docs_man_is_read() {
    let dir = repository_root().join("docs/man");
    let read: Vec<&str> = content::all().map(|s| s.path).collect();
    let mut unread = Vec::new();
    for entry in fs::read_dir(&dir).expect("docs/man/").flatten() {
        let path = format!("docs/man/{}", entry.file_name().to_string_lossy());
        if path.ends_with(".txt") && !read.contains(&path.as_str()) {
            unread.push(path);
        }
    }
    assert!(
        unread.is_empty(),
        "{unread:?} are not read by the generator: list them in tools/docgen/src/content.rs"
    );
}

#[test]
fn the_syntax_maps_to_blocks_and_errors_name_the_line() {
    let source = "\
# TITLE

A paragraph
on two lines.

    example

      indented
## Sub
`tag`
    body
    more

    further

        inner example
";
    let parsed = markup::parse("x.txt", source).expect("parse");
    let text = |t: &str| t.to_string();
    assert_eq!(
        parsed,
        [Section {
            title: text("TITLE"),
            blocks: vec![
                Block::P(text("A paragraph on two lines.")),
                Block::Ex(text("example\n\n  indented")),
                Block::Ss(text("Sub")),
                Block::Tp(text("`tag`"), text("body more")),
                Block::Ip(text("further")),
                Block::Ex(text("inner example")),
            ],
        }]
    );
    for (source, line) in [
        ("text first\n", 1),
        ("# T\n\nfine\n\n  two spaces\n", 5),
        ("# T\n\ntag\n\n    example\nnot indented\n", 6),
        ("# T\n\ntag\n    body\nnot indented\n", 5),
        ("# T\n\na tag\nof two lines\n    body\n", 3),
        ("# T\n\n### deeper\n", 3),
        ("# T\n\n\ttab\n", 3),
        ("# T\n\nan `open mark\n", 3),
    ] {
        let err = markup::parse("x.txt", source).expect_err(source);
        assert!(
            err.starts_with(&format!("x.txt:{line}: ")),
            "{source:?}: {err}"
        );
    }
}

/// The words set in bold on a rendered page.
fn bold_words(page: &str) -> BTreeSet<String> {
    page.split("\\fB")
        .skip(1)
        .filter_map(|rest| rest.split("\\fR").next())
        .flat_map(|span| {
            span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The field names of `struct NAME { ... }` in Rust source.
fn struct_fields(source: &str, name: &str) -> Vec<String> {
    let start = source
        .find(&format!("struct {name} {{"))
        .unwrap_or_else(|| panic!("src/config/raw.rs has no struct {name}"));
    let body = &source[start..];
    let body = &body[..body.find("\n}").expect("end of struct")];
    body.lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("pub(super) ");
            let (field, _) = line.split_once(':')?;
            field
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_')
                .then(|| field.to_string())
        })
        .collect()
}

#[test]
fn the_configuration_page_names_every_key() {
    let raw = fs::read_to_string(repository_root().join("src/config/raw.rs"))
        .expect("read src/config/raw.rs");
    let mut keys = Vec::new();
    for table in ["RawConfig", "RawDefaults", "RawService", "RawEndpoints"] {
        let fields = struct_fields(&raw, table);
        assert!(!fields.is_empty(), "no fields found in {table}");
        keys.extend(fields);
    }
    // The words of `credentials`: "adc", "metadata", "gcloud", key_file, command, timeout.
    keys.extend(
        raw.split("\" =>")
            .filter_map(|before| before.rsplit('"').next())
            .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .map(str::to_owned),
    );
    assert!(
        keys.iter().any(|k| k == "key_file"),
        "credentials forms found: {keys:?}"
    );

    let outputs = outputs().expect("generate");
    let page = outputs
        .get(Path::new("man/alloydb-cred.toml.5"))
        .expect("the configuration page");
    let bold = bold_words(&String::from_utf8_lossy(page));
    let missing: Vec<&String> = keys.iter().filter(|k| !bold.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "alloydb-cred.toml(5) does not describe {missing:?}; add them to {}",
        content::CONFIG.path
    );
}

/// The environment variables the code reads by name: the argument of `var(…)`,
/// `var_os(…)`, `env_path(…)` or a plain `env(…)` (not a method: `Command::env` sets a
/// variable for a child), given as a literal or as a `const` of the same file.
fn variables_read(dir: &Path, found: &mut BTreeSet<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            variables_read(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = fs::read_to_string(&path).unwrap_or_default();
            found.extend(variables_named_in(&source));
        }
    }
}

fn variables_named_in(source: &str) -> Vec<String> {
    let constant = |name: &str| {
        let rest = source.split(&format!("const {name}: &str = \"")).nth(1)?;
        rest.split('"').next().map(str::to_owned)
    };
    let mut found = Vec::new();
    for call in ["var(", "var_os(", "env_path(", "env("] {
        let mut pieces = source.split(call);
        let mut before = pieces.next().unwrap_or_default();
        for rest in pieces {
            let called_by_name =
                !before.ends_with(|c: char| c == '.' || c == '_' || c.is_ascii_alphanumeric());
            before = rest;
            if !called_by_name {
                continue;
            }
            let argument: String = rest
                .chars()
                .take_while(|c| *c != ')' && *c != ',')
                .collect();
            let name = match argument.strip_prefix('"') {
                Some(literal) => literal.split('"').next().map(str::to_owned),
                None if argument.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                    constant(&argument)
                }
                None => None,
            };
            found.extend(name.filter(|n| !n.is_empty()));
        }
    }
    found
}

#[test]
fn the_variable_scan_finds_literals_and_constants_but_not_what_children_get() {
    let source = r#"
        const ALLOW: &str = "ALLOW_IT";
        std::env::var("ONE"); std::env::var_os(ALLOW); env("TWO"); paths::env_path("THREE");
        command.env("FOR_A_CHILD", "x"); my_env("NOT_READ"); std::env::var(name);
    "#;
    let mut found = variables_named_in(source);
    found.sort();
    assert_eq!(found, ["ALLOW_IT", "ONE", "THREE", "TWO"]);
}

#[test]
fn the_environment_section_names_every_variable_the_code_reads() {
    let root = repository_root();
    let mut read = BTreeSet::new();
    variables_read(&root.join("src"), &mut read);
    for krate in fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        variables_read(&krate.path().join("src"), &mut read);
    }
    assert!(read.contains("ALLOYDB_CRED_CONFIG"), "found {read:?}");
    let program = sections(&content::PROGRAM);
    let environment = program
        .iter()
        .find(|s| s.title == "ENVIRONMENT")
        .expect("an ENVIRONMENT section");
    let (marked, _) = texts(&environment.blocks);
    let named: BTreeSet<&str> = marked.iter().flat_map(|t| code_spans(t)).collect();
    let missing: Vec<&String> = read
        .iter()
        .filter(|v| !named.contains(v.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the code reads {missing:?}, which the ENVIRONMENT section of {} does not describe",
        content::PROGRAM.path
    );
}

#[test]
fn committed_man_pages_and_completions_are_current() {
    let generated = outputs().unwrap_or_else(|e| panic!("the generator failed: {e}"));
    let repo = repository_root();
    let mut problems = Vec::new();
    for (path, want) in &generated {
        match fs::read(repo.join(path)) {
            Ok(have) if have == *want => {}
            Ok(have) => {
                let (have, want) = (
                    String::from_utf8_lossy(&have),
                    String::from_utf8_lossy(want),
                );
                let line = have.lines().zip(want.lines()).position(|(h, w)| h != w);
                problems.push(format!(
                    "{} differs (first at line {:?})",
                    path.display(),
                    line.map(|n| n + 1)
                ));
            }
            Err(_) => problems.push(format!("{} is missing", path.display())),
        }
    }
    for path in files_in(&repo).expect("list the committed files") {
        if !generated.contains_key(&path) {
            problems.push(format!(
                "{} is not written by the generator",
                path.display()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "man/ and completions/ are stale; run `cargo run -p docgen` and commit the result:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn pages_carry_no_date_and_write_removes_only_stale_files() {
    // No date on the title line: a page changes only when what it says changes.
    for (path, bytes) in outputs()
        .expect("generate")
        .iter()
        .filter(|(p, _)| p.starts_with("man"))
    {
        let text = String::from_utf8_lossy(bytes);
        let title = text
            .lines()
            .find(|l| l.starts_with(".TH "))
            .expect(".TH line");
        assert!(title.contains(" \"\" "), "{}: {title}", path.display());
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let stale = dir.path().join("man/alloydb-cred-gone.1");
    fs::create_dir_all(dir.path().join("man")).expect("mkdir");
    fs::write(&stale, "old").expect("write");
    fs::write(dir.path().join("README.md"), "mine").expect("write");
    let changes = write(dir.path()).expect("write");
    assert_eq!(changes.removed, [Path::new("man/alloydb-cred-gone.1")]);
    assert_eq!(
        fs::read_to_string(dir.path().join("README.md")).expect("read"),
        "mine"
    );
    let again = write(dir.path()).expect("write again");
    assert!(again.written.is_empty() && again.removed.is_empty());
}
