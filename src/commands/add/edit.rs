//! The edit itself: the user's text stays byte for byte (comments, blank lines, quoting,
//! order, even a comment at the very end), and the new table is appended after it. TOML
//! table headers are absolute, so a table appended anywhere means the same; toml_edit
//! reads the document to find the names taken and renders the new table.

use std::path::Path;

use toml_edit::{DocumentMut, InlineTable, Item, Table, value};

use super::Source;
use crate::cli::AddArgs;
use crate::error::{Error, Result};

/// `text` with a `[services.NAME]` table for `args` added; `path` names the file in
/// messages.
pub(super) fn add_service(text: &str, path: &Path, args: &AddArgs) -> Result<String> {
    let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::Config(format!(
            "{} is not valid TOML ({}); fix it first",
            path.display(),
            e.message()
        ))
    })?;
    let taken = match doc.get("services") {
        None => false,
        // `services = { a = { … } }`: TOML allows no `[services.NAME]` table beside it.
        Some(item) if item.is_inline_table() => {
            return Err(Error::Config(format!(
                "{}: `services` is an inline table (`services = {{ … }}`), and TOML allows no [services.NAME] table beside one; write each service as its own [services.NAME] table, then run add again",
                path.display()
            )));
        }
        Some(item) => item
            .as_table_like()
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: `services` is not a table; fix it first",
                    path.display()
                ))
            })?
            .contains_key(&args.name),
    };
    if taken {
        return Err(Error::Config(format!(
            "service {} is already configured in {}; choose another name, or edit or remove its table there",
            args.name,
            path.display()
        )));
    }
    let mut services = Table::new();
    // No bare `[services]` header: the new table is written `[services.NAME]`.
    services.set_implicit(true);
    services.insert(&args.name, Item::Table(service_table(args)?));
    let mut fragment = DocumentMut::new();
    fragment.insert("services", Item::Table(services));

    let mut out = text.to_string();
    if !out.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&fragment.to_string());
    Ok(out)
}

/// The line of `text` (as [`add_service`] made it from `before`) where the new table
/// starts.
pub(super) fn table_line(before: Option<&str>, text: &str) -> usize {
    let start = before.map_or(0, str::len).min(text.len());
    let header = text[start..].find('[').map_or(start, |i| start + i);
    text[..header].matches('\n').count() + 1
}

/// A loader error `err` about the new table (at or below line `table_line` of the text
/// parsed as `path`) told in terms of the command line: the flag that set the key, not
/// a line of a file the user did not write, or that may not even exist yet.
pub(super) fn in_flag_terms(err: Error, path: &Path, table_line: usize, args: &AddArgs) -> Error {
    let at = match &err {
        Error::ConfigAt(at) if at.path == path && at.line >= table_line => at,
        _ => return err,
    };
    let flag = match at.key.as_deref() {
        Some("host") => "--host",
        Some("port") => "--port",
        Some("instance") => "--instance",
        Some("ip_type") => "--ip-type",
        Some("dbname") => "--dbname",
        Some("user") => "--user",
        Some("credentials") => "--credentials",
        Some("impersonate") => "--impersonate",
        Some(_) => return err,
        // The table's header: the name, or what the flags say together.
        None => return Error::Config(format!("add {}: {}", args.name, at.message)),
    };
    Error::Config(format!("add {} {flag}: {}", args.name, at.message))
}

fn service_table(args: &AddArgs) -> Result<Table> {
    let mut table = Table::new();
    if let Some(instance) = &args.instance {
        table.insert("instance", value(instance.as_str()));
    }
    if let Some(ip_type) = &args.ip_type {
        table.insert("ip_type", value(ip_type.as_str()));
    }
    if let Some(host) = &args.host {
        table.insert("host", value(host.as_str()));
    }
    if let Some(port) = args.port {
        table.insert("port", value(i64::from(port)));
    }
    if let Some(dbname) = &args.dbname {
        table.insert("dbname", value(dbname.as_str()));
    }
    if let Some(user) = &args.user {
        table.insert("user", value(user.as_str()));
    }
    if let Some(source) = &args.credentials {
        let item = match Source::parse(source)? {
            Source::Named(name) => value(name),
            Source::KeyFile(path) => {
                let text = path.to_str().ok_or_else(|| {
                    Error::Config(format!(
                        "--credentials {}: the configuration holds UTF-8 paths only",
                        path.display()
                    ))
                })?;
                let mut inline = InlineTable::new();
                inline.insert("key_file", text.into());
                value(inline)
            }
        };
        table.insert("credentials", item);
    }
    if let Some(account) = &args.impersonate {
        table.insert("impersonate", value(account.as_str()));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str) -> AddArgs {
        AddArgs {
            name: name.into(),
            instance: None,
            ip_type: None,
            host: Some("db.internal.test".into()),
            port: Some(6432),
            dbname: Some("app".into()),
            user: None,
            credentials: Some("gcloud".into()),
            impersonate: None,
            no_refresh: true,
        }
    }

    const COMMENTED: &str = "# my settings\n[defaults]   # keep this\ncredentials = 'adc'  # single quotes\n\n# the old one\n[services.old]\nhost = \"10.0.0.1\" # trailing\n\n# end of file comment\n";

    #[test]
    fn keeps_every_byte_and_appends_the_table() {
        let out = add_service(COMMENTED, Path::new("c.toml"), &args("new")).expect("added");
        assert!(out.starts_with(COMMENTED), "{out}");
        assert_eq!(
            &out[COMMENTED.len()..],
            "\n[services.new]\nhost = \"db.internal.test\"\nport = 6432\ndbname = \"app\"\ncredentials = \"gcloud\"\n"
        );
    }

    #[test]
    fn an_empty_file_gets_only_the_service_table() {
        let out = add_service("", Path::new("c.toml"), &args("a")).expect("added");
        assert!(out.starts_with("[services.a]\n"), "{out}");
        assert!(!out.contains("[services]\n"), "{out}");
    }

    #[test]
    fn an_inline_services_table_is_refused_by_name() {
        let text = "services = { a = { host = \"h\" } }\n";
        let err = add_service(text, Path::new("c.toml"), &args("b")).expect_err("refused");
        assert_eq!(err.exit_code().code(), 2);
        assert!(err.to_string().contains("inline table"), "{err}");
    }

    #[test]
    fn the_table_line_is_where_the_new_header_is() {
        let out = add_service(COMMENTED, Path::new("c.toml"), &args("new")).expect("added");
        let line = table_line(Some(COMMENTED), &out);
        assert_eq!(out.lines().nth(line - 1), Some("[services.new]"));
        let out = add_service("", Path::new("c.toml"), &args("a")).expect("added");
        assert_eq!(table_line(None, &out), 1);
    }

    #[test]
    fn an_existing_name_is_refused() {
        let err = add_service(COMMENTED, Path::new("c.toml"), &args("old")).expect_err("refused");
        assert_eq!(err.exit_code().code(), 2);
        assert!(err.to_string().contains("already configured"), "{err}");
    }
}
