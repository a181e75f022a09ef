//! The syntax the prose is written in, turned into roff: blocks, one or a few lines each,
//! and two inline marks.
//!
//! The sources (docs/man/, see its README) are plain text, read line by line; blank lines
//! separate blocks:
//!
//! - `# TITLE` starts a section, `## Title` a subsection ([`Block::Ss`]).
//! - Lines at the left margin are a paragraph ([`Block::P`]), joined with single spaces.
//! - One line at the left margin followed at once by lines indented four spaces is a
//!   tagged paragraph ([`Block::Tp`]): the line is the tag, the indented lines its body.
//! - After a tagged paragraph, until the next line at the left margin, a blank line and
//!   lines indented four spaces are a further paragraph of its body ([`Block::Ip`]).
//! - Lines indented further than the text around them (four spaces, or eight within a
//!   tagged paragraph) are an example ([`Block::Ex`]): kept as written, without that
//!   indent, blank lines between them included.
//!
//! Anything else (text before the first section, another indent, a tab, a tag of two
//! lines) is an error that names the file and line, and so is a mark left open.
//!
//! Text is plain, with two marks: `` `code` `` (a name to type: a command, option, key,
//! file or variable) is set in bold, and `*word*` (a placeholder or a term) in italics.
//! The doc comments in src/cli.rs use backticks the same way, so the descriptions clap
//! shows in `--help` read naturally there and render with the right fonts here. Nothing
//! inside a code span is interpreted. Unbalanced marks are an error, so a stray one fails
//! the generator instead of swallowing the rest of a paragraph. Examples and headings
//! have no marks.
//!
//! Sentences start on a new roff source line (the man-page convention, which also gives
//! troff its end-of-sentence spacing), and paragraphs are blocks: see [`Block`].

use roff::{Inline, Roff, bold, italic, roman};

/// One block of a section.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A paragraph.
    P(String),
    /// A tagged paragraph: the tag (one line) and its indented body.
    Tp(String, String),
    /// A further paragraph of the current tagged one, indented like its body.
    Ip(String),
    /// Example lines, kept as written (no marks), indented.
    Ex(String),
    /// A subsection heading.
    Ss(String),
}

/// A section of a page: its heading and blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// How far a line is indented, in spaces.
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Lines of text joined with single spaces.
fn joined<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    lines
        .into_iter()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses a source (see the module's documentation) into its sections. `path` names it
/// in errors: `path:line: what is wrong`.
pub fn parse(path: &str, text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    // Whether the blocks since the last line at the left margin belong to a tagged
    // paragraph: then four spaces are its body's indent, and an example's are eight.
    let mut in_tag = false;
    let mut lines = text.lines().enumerate().peekable();
    let error = |index: usize, what: &str| format!("{path}:{}: {what}", index + 1);
    while let Some((index, line)) = lines.next() {
        let at = |what: &str| error(index, what);
        if line.trim().is_empty() {
            continue;
        }
        if line.contains('\t') {
            return Err(at("a tab: indent with spaces"));
        }
        if let Some(title) = line.strip_prefix("# ").map(str::trim) {
            if title.is_empty() {
                return Err(at("a section without a title"));
            }
            sections.push(Section {
                title: title.to_string(),
                blocks: Vec::new(),
            });
            in_tag = false;
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return Err(at("text before the first `# TITLE`"));
        };
        if line.starts_with('#') {
            match line.strip_prefix("## ").map(str::trim) {
                Some(title) if !title.is_empty() => {
                    section.blocks.push(Block::Ss(title.to_string()));
                    in_tag = false;
                    continue;
                }
                _ => return Err(at("a heading is `# TITLE` or `## Title`")),
            }
        }
        // The block's other lines: those up to a blank line or a heading.
        let mut rest = Vec::new();
        while let Some(next) = lines.next_if(|(_, l)| !l.trim().is_empty() && !l.starts_with('#')) {
            rest.push(next);
        }
        let at_margin = rest.iter().find(|(_, l)| indent(l) == 0);
        let text = |first: &str| joined(std::iter::once(first).chain(rest.iter().map(|(_, l)| *l)));
        let example_indent = if in_tag { 8 } else { 4 };
        let block = if indent(line) == 0 {
            // A paragraph, or a tag with the indented lines after it as its body.
            match rest.iter().position(|(_, l)| indent(l) > 0) {
                None => {
                    in_tag = false;
                    Block::P(text(line))
                }
                Some(0) => {
                    if let Some((index, _)) = at_margin {
                        return Err(error(
                            *index,
                            "a tagged paragraph's body is indented throughout",
                        ));
                    }
                    in_tag = true;
                    Block::Tp(
                        line.trim_end().to_string(),
                        joined(rest.iter().map(|(_, l)| *l)),
                    )
                }
                Some(_) => {
                    return Err(at(
                        "a tag is one line (and a blank line comes before an example)",
                    ));
                }
            }
        } else if in_tag && indent(line) == 4 {
            if let Some((index, _)) = at_margin {
                return Err(error(
                    *index,
                    "a paragraph of a tagged one is indented throughout",
                ));
            }
            Block::Ip(text(line))
        } else if indent(line) >= example_indent {
            let mut example = vec![(index, line)];
            example.extend(rest);
            // Blank lines between example lines belong to the example.
            while let Some(next) =
                lines.next_if(|(_, l)| l.trim().is_empty() || indent(l) >= example_indent)
            {
                example.push(next);
            }
            while example.last().is_some_and(|(_, l)| l.trim().is_empty()) {
                example.pop();
            }
            let mut kept = Vec::new();
            for (index, l) in example {
                if l.trim().is_empty() {
                    kept.push("");
                } else if indent(l) < example_indent {
                    return Err(error(
                        index,
                        &format!("an example is indented {example_indent} spaces throughout"),
                    ));
                } else {
                    kept.push(&l[example_indent..]);
                }
            }
            Block::Ex(kept.join("\n"))
        } else if in_tag {
            return Err(at(
                "indent by 4 spaces for a paragraph of the tagged one above, 8 for an example",
            ));
        } else {
            return Err(at("indent by 4 spaces for an example"));
        };
        let marked = match &block {
            Block::P(text) | Block::Ip(text) => vec![text],
            Block::Tp(tag, body) => vec![tag, body],
            Block::Ex(_) | Block::Ss(_) => Vec::new(),
        };
        for text in marked {
            inlines(text, false).map_err(|e| at(&e))?;
        }
        section.blocks.push(block);
    }
    Ok(sections)
}

/// Parses marked-up text into roff inlines. With `sentences`, each sentence after the
/// first starts a new source line.
pub fn inlines(text: &str, sentences: bool) -> Result<Vec<Inline>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next = rest.find(['`', '*']).unwrap_or(rest.len());
        if next > 0 {
            let plain = &rest[..next];
            let mut plain = if sentences {
                break_sentences(plain)
            } else {
                plain.to_string()
            };
            // A sentence that ends where a marked word starts the next one.
            let followed_by_mark = next < rest.len();
            if sentences
                && followed_by_mark
                && [". ", "? ", "! "].iter().any(|e| plain.ends_with(e))
            {
                plain.pop();
                plain.push('\n');
            }
            out.push(roman(plain));
        }
        rest = &rest[next..];
        let Some(mark) = rest.chars().next() else {
            break;
        };
        let body = &rest[1..];
        let end = body
            .find(mark)
            .ok_or_else(|| format!("unbalanced {mark} in: {text}"))?;
        let span = &body[..end];
        if span.is_empty() {
            return Err(format!("empty {mark}{mark} span in: {text}"));
        }
        out.push(if mark == '`' {
            bold(span)
        } else {
            italic(span)
        });
        rest = &body[end + 1..];
    }
    Ok(out)
}

/// Starts every sentence after the first on a new line: a full stop, question or
/// exclamation mark, then a space and a capital letter, a digit or an opening mark.
fn break_sentences(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if matches!(c, '.' | '?' | '!') {
            let mut ahead = chars.clone();
            if ahead.next() == Some(' ')
                && ahead
                    .next()
                    .is_some_and(|n| n.is_ascii_uppercase() || n.is_ascii_digit() || n == '(')
            {
                chars.next();
                out.push('\n');
            }
        }
    }
    out
}

/// Appends a section: its heading and its blocks.
pub fn section(roff: &mut Roff, section: &Section) -> Result<(), String> {
    roff.control("SH", [section.title.as_str()]);
    blocks(roff, &section.blocks)
}

/// Appends blocks. The first paragraph after a heading needs no `.PP`.
pub fn blocks(roff: &mut Roff, blocks: &[Block]) -> Result<(), String> {
    for block in blocks {
        match block {
            Block::P(text) => {
                roff.control("PP", []);
                roff.text(inlines(text, true)?);
            }
            Block::Tp(tag, body) => {
                roff.control("TP", []);
                roff.text(inlines(tag, false)?);
                roff.text(inlines(body, true)?);
            }
            Block::Ip(text) => {
                roff.control("IP", []);
                roff.text(inlines(text, true)?);
            }
            Block::Ex(lines) => example(roff, lines),
            Block::Ss(title) => {
                roff.control("SS", [title.as_str()]);
            }
        }
    }
    Ok(())
}

/// Example lines, indented and not filled.
pub fn example(roff: &mut Roff, lines: &str) {
    roff.control("RS", []);
    roff.control("PP", []);
    roff.control("EX", []);
    for line in lines.lines() {
        roff.text([roman(line)]);
    }
    roff.control("EE", []);
    roff.control("RE", []);
}

/// Paragraphs of text from clap (a long description): blank lines separate them.
pub fn paragraphs(roff: &mut Roff, text: &str) -> Result<(), String> {
    for (i, paragraph) in text.split("\n\n").enumerate() {
        let paragraph = paragraph.trim();
        if paragraph.is_empty() {
            continue;
        }
        if i > 0 {
            roff.control("PP", []);
        }
        roff.text(inlines(&paragraph.replace('\n', " "), true)?);
    }
    Ok(())
}
