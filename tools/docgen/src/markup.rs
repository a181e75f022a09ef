//! The small markup the prose is written in, turned into roff.
//!
//! Text is plain, with two marks: `` `code` `` (a name to type: a command, option, key,
//! file or variable) is set in bold, and `*word*` (a placeholder or a term) in italics.
//! The doc comments in src/cli.rs use backticks the same way, so the descriptions clap
//! shows in `--help` read naturally there and render with the right fonts here. Nothing
//! inside a code span is interpreted. Unbalanced marks are an error, so a stray one fails
//! the generator instead of swallowing the rest of a paragraph.
//!
//! Sentences start on a new roff source line (the man-page convention, which also gives
//! troff its end-of-sentence spacing), and paragraphs are blocks: see [`Block`].

use roff::{Inline, Roff, bold, italic, roman};

/// One block of a section.
#[derive(Debug, Clone, Copy)]
pub enum Block {
    /// A paragraph.
    P(&'static str),
    /// A tagged paragraph: the tag (one line) and its indented body.
    Tp(&'static str, &'static str),
    /// A further paragraph of the current tagged one, indented like its body.
    Ip(&'static str),
    /// Example lines, kept as written (no marks), indented.
    Ex(&'static str),
    /// A subsection heading.
    Ss(&'static str),
}

/// A section of a page: its heading and blocks.
#[derive(Debug, Clone, Copy)]
pub struct Section {
    pub title: &'static str,
    pub blocks: &'static [Block],
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
    roff.control("SH", [section.title]);
    blocks(roff, section.blocks)
}

/// Appends blocks. The first paragraph after a heading needs no `.PP`.
pub fn blocks(roff: &mut Roff, blocks: &[Block]) -> Result<(), String> {
    for block in blocks {
        match *block {
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
                roff.control("SS", [title]);
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
