//! The pages: what clap knows (synopsis, descriptions, options, the commands) in the
//! standard sections, followed by the sections of the page's source in docs/man/
//! ([`crate::content`]). A source's DESCRIPTION and OPTIONS go on where clap's end.

use clap::Command;
use roff::{Inline, Roff, bold, roman};

use crate::content;
use crate::markup::{self, Block, Section};
use crate::synopsis;

/// The program's name: every page's name starts with it.
pub const PROGRAM: &str = "alloydb-cred";

/// Renders a roff document without the preamble the `roff` crate writes first, so pieces
/// rendered separately (ours and clap_mangen's) join into one page with one preamble.
fn body(rendered: Vec<u8>) -> Result<String, String> {
    let preamble = Roff::new().render();
    let text = String::from_utf8(rendered).map_err(|e| e.to_string())?;
    Ok(text
        .strip_prefix(&preamble)
        .map_or(text.clone(), str::to_owned))
}

/// A page under construction: roff pieces joined in order.
struct Page {
    text: String,
}

impl Page {
    /// A page with its title line. The date is left empty: the pages are regenerated and
    /// compared byte for byte, and the version (in the footer) says which release they
    /// describe.
    fn new(title: &str, section: &str, version: &str, manual: &str) -> Page {
        let mut text = Roff::new().render();
        text.push_str(&format!(
            ".TH {} {section} \"\" \"{PROGRAM} {version}\" \"{manual}\"\n",
            title.to_uppercase()
        ));
        // No hyphenation and a ragged right margin: the pages are full of names to type
        // (options, paths, URLs), which must not be split or stretched.
        text.push_str(".nh\n.ad l\n");
        Page { text }
    }

    fn roff(&mut self, roff: &Roff) -> Result<(), String> {
        let mut out = Vec::new();
        roff.to_writer(&mut out).map_err(|e| e.to_string())?;
        self.text.push_str(&body(out)?);
        Ok(())
    }

    fn sections(&mut self, sections: &[Section]) -> Result<(), String> {
        let mut roff = Roff::new();
        for section in sections {
            markup::section(&mut roff, section)?;
        }
        self.roff(&roff)
    }

    /// NAME: `name \- summary`.
    fn name(&mut self, name: &str, summary: &str) -> Result<(), String> {
        let mut roff = Roff::new();
        roff.control("SH", ["NAME"]);
        let mut line = vec![roman(format!("{name} - "))];
        line.extend(markup::inlines(&lowercase_first(summary), false)?);
        roff.text(line);
        self.roff(&roff)
    }

    /// The OPTIONS section (and one per help heading), as clap_mangen writes it, then
    /// `more` of it.
    fn options(&mut self, cmd: &Command, more: &[Block]) -> Result<(), String> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render_options_section(&mut out)
            .map_err(|e| e.to_string())?;
        self.text.push_str(&body(out)?);
        let mut roff = Roff::new();
        markup::blocks(&mut roff, more)?;
        self.roff(&roff)
    }

    /// SEE ALSO: pages as `name(section)`, comma-separated.
    fn see_also(&mut self, pages: &[(String, &str)]) -> Result<(), String> {
        let mut roff = Roff::new();
        roff.control("SH", ["SEE ALSO"]);
        let mut line: Vec<Inline> = Vec::new();
        for (i, (name, section)) in pages.iter().enumerate() {
            line.push(bold(name.as_str()));
            let separator = if i + 1 < pages.len() { ", " } else { "" };
            line.push(roman(format!("({section}){separator}")));
        }
        roff.text(line);
        self.roff(&roff)
    }
}

/// "Make the entries..." -> "make the entries...", but "IAM ..." stays.
fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() && !second.is_uppercase() => {
            format!("{}{}", first.to_ascii_lowercase(), &text[1..])
        }
        _ => text.to_string(),
    }
}

/// The subcommands that get pages: every one that is not hidden.
pub fn subcommands(root: &Command) -> impl Iterator<Item = &Command> {
    root.get_subcommands().filter(|s| !s.is_hide_set())
}

/// The file name of a subcommand's page.
pub fn subcommand_page_name(sub: &Command) -> String {
    format!("{PROGRAM}-{}", sub.get_name())
}

fn about(cmd: &Command) -> String {
    cmd.get_about()
        .or_else(|| cmd.get_long_about())
        .map(|a| a.to_string())
        .unwrap_or_default()
}

fn long_about(cmd: &Command) -> String {
    cmd.get_long_about()
        .or_else(|| cmd.get_about())
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// Takes the section `title` out of `sections`: its blocks, or none.
fn continuation(sections: &mut Vec<Section>, title: &str) -> Vec<Block> {
    match sections.iter().position(|s| s.title == title) {
        Some(at) => sections.remove(at).blocks,
        None => Vec::new(),
    }
}

/// alloydb-cred(1): the whole program.
pub fn program_page(root: &Command, version: &str) -> Result<String, String> {
    let mut prose = content::PROGRAM.sections()?;
    let mut page = Page::new(PROGRAM, "1", version, "User Commands");
    page.name(PROGRAM, &about(root))?;

    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    let mut forms = vec![synopsis::global_form(root)];
    forms.extend(subcommands(root).map(synopsis::command_form));
    forms.push(synopsis::help_form());
    synopsis::block(&mut roff, PROGRAM, &forms);
    roff.control("SH", ["DESCRIPTION"]);
    markup::paragraphs(&mut roff, &long_about(root))?;
    markup::blocks(&mut roff, &continuation(&mut prose, "DESCRIPTION"))?;

    roff.control("SH", ["COMMANDS"]);
    roff.text([roman(
        "Each command has its own page, which says more than the summary here.",
    )]);
    for sub in subcommands(root) {
        roff.control("TP", []);
        roff.text([
            bold(subcommand_page_name(sub)),
            roman("(1), "),
            bold(format!("{PROGRAM} {}", sub.get_name())),
        ]);
        roff.text(markup::inlines(&about(sub), true)?);
    }
    page.roff(&roff)?;

    page.options(root, &continuation(&mut prose, "OPTIONS"))?;

    page.sections(&prose)?;
    let mut see_also: Vec<(String, &str)> = subcommands(root)
        .map(|s| (subcommand_page_name(s), "1"))
        .collect();
    see_also.push((content::CONFIG_PAGE.into(), "5"));
    see_also.extend(content::SEE_ALSO.iter().map(|(n, s)| (n.to_string(), *s)));
    page.see_also(&see_also)?;
    Ok(page.text)
}

/// alloydb-cred-NAME(1): one command.
pub fn command_page(sub: &Command, version: &str) -> Result<String, String> {
    let mut prose = match content::COMMANDS.iter().find(|(n, _)| *n == sub.get_name()) {
        Some((_, source)) => source.sections()?,
        None => Vec::new(),
    };
    let name = subcommand_page_name(sub);
    let mut page = Page::new(&name, "1", version, "User Commands");
    page.name(&name, &about(sub))?;

    let mut roff = Roff::new();
    roff.control("SH", ["SYNOPSIS"]);
    synopsis::block(&mut roff, PROGRAM, &[synopsis::command_form(sub)]);
    roff.control("SH", ["DESCRIPTION"]);
    markup::paragraphs(&mut roff, &long_about(sub))?;
    markup::blocks(&mut roff, &continuation(&mut prose, "DESCRIPTION"))?;
    page.roff(&roff)?;

    // The program's own options also work after the command: list them apart, as
    // alloydb-cred(1) describes them.
    let sub = sub.clone().mut_args(|a| match a.is_global_set() {
        true => a.help_heading("Global options"),
        false => a,
    });
    page.options(&sub, &continuation(&mut prose, "OPTIONS"))?;

    page.sections(&prose)?;
    page.see_also(&[(PROGRAM.into(), "1"), (content::CONFIG_PAGE.into(), "5")])?;
    Ok(page.text)
}

/// alloydb-cred.toml(5): the configuration file.
pub fn config_page(root: &Command, version: &str) -> Result<String, String> {
    let mut page = Page::new(content::CONFIG_PAGE, "5", version, "File Formats");
    page.name(content::CONFIG_PAGE, content::CONFIG_SUMMARY)?;
    page.sections(&content::CONFIG.sections()?)?;
    let mut see_also = vec![(PROGRAM.to_string(), "1")];
    see_also.extend(
        subcommands(root)
            .filter(|s| s.get_name() == "refresh")
            .map(|s| (subcommand_page_name(s), "1")),
    );
    see_also.extend(
        content::SEE_ALSO_LIBPQ
            .iter()
            .map(|(n, s)| (n.to_string(), *s)),
    );
    page.see_also(&see_also)?;
    Ok(page.text)
}
