//! The one place that escapes text for HTML/SVG and for Markdown.
//!
//! * [`html`]: text content and attribute values of HTML, SVG and XML
//!   (`&`, `<`, `>`, `"`, `'` as entities). Every page and picture of this
//!   crate goes through it, and so does the recipe report.
//! * [`markdown_text`]: prose that may carry Markdown formatting (emphasis,
//!   `code`): raw HTML is neutralised (`&`, `<`, `>` as entities) and a line
//!   that would open a fenced code block (```` ``` ```` or `~~~` after
//!   leading blanks) has its first fence character backslash-escaped, so text
//!   can neither inject tags nor swallow the rest of the document.
//! * [`markdown_line`]: the same on one line (line breaks become spaces), for
//!   list items and headings.
//! * [`markdown_cell`]: a GFM table cell: one line, entities, `\` → `\\` and
//!   `|` → `\|`, so a cell never splits the row.
//! * [`markdown_code_block`] / [`markdown_inline_code`]: verbatim text in a
//!   fence (or a code span) one backtick longer than the longest backtick run
//!   inside, so the content can never close it early.
//!
//! None of these fail or panic, for any input.

/// Escapes HTML/SVG/XML text content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `&`, `<`, `>` as entities (the characters that start raw HTML).
fn entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Splits on every Markdown line ending (`\r\n`, `\n`, `\r`).
fn lines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(['\n', '\r']) {
        out.push(&rest[..i]);
        let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[i + skip..];
    }
    out.push(rest);
    out
}

/// Prose (possibly with inline Markdown): raw HTML neutralised, fence openers
/// escaped; line breaks are kept (normalised to `\n`).
pub fn markdown_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for (i, line) in lines(s).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = entities(line);
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        let rest = &line[indent..];
        if rest.starts_with("```") || rest.starts_with("~~~") {
            out.push_str(&line[..indent]);
            out.push('\\');
            out.push_str(rest);
        } else {
            out.push_str(&line);
        }
    }
    out
}

/// [`markdown_text`] on one line: line breaks become spaces (so the text can
/// start no block of its own).
pub fn markdown_line(s: &str) -> String {
    let one = lines(s);
    markdown_text(&one.join(" "))
}

/// A GFM table cell: one line, `&`, `<`, `>` as entities, `\` and `|`
/// backslash-escaped (a fence cannot open inside a table cell).
pub fn markdown_cell(s: &str) -> String {
    let one = lines(s);
    let mut out = String::with_capacity(s.len() + 4);
    for ch in one.join(" ").chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c => out.push(c),
        }
    }
    entities(&out)
}

/// Length of the longest run of `c` in `s`.
fn longest_run(s: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in s.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// A fenced code block holding `body` verbatim, with info string `info`
/// (e.g. `sh`; backticks and line breaks are dropped from it). The fence is
/// at least three backticks and longer than any backtick run in `body`. The
/// result ends with a newline.
pub fn markdown_code_block(info: &str, body: &str) -> String {
    let fence = "`".repeat(longest_run(body, '`').max(2) + 1);
    let info: String = info
        .chars()
        .filter(|c| *c != '`' && *c != '\n' && *c != '\r')
        .collect();
    let mut out = String::with_capacity(body.len() + 2 * fence.len() + info.len() + 4);
    out.push_str(&fence);
    out.push_str(info.trim());
    out.push('\n');
    out.push_str(body);
    if !body.is_empty() && !body.ends_with('\n') && !body.ends_with('\r') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push('\n');
    out
}

/// A code span holding `s` (line breaks become spaces), delimited by one
/// backtick more than the longest run inside and padded with a space when
/// the content starts or ends with a backtick or a space.
pub fn markdown_inline_code(s: &str) -> String {
    let one = lines(s);
    let body = one.join(" ");
    if body.is_empty() {
        // There is no empty code span; this one shows a single space.
        return "` `".into();
    }
    let fence = "`".repeat(longest_run(&body, '`') + 1);
    let pad = body.starts_with(['`', ' ']) || body.ends_with(['`', ' ']);
    let sp = if pad { " " } else { "" };
    format!("{fence}{sp}{body}{sp}{fence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_all_five() {
        assert_eq!(
            html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn markdown_pieces() {
        assert_eq!(
            markdown_text("a <b> & c\n```\n  ~~~x"),
            "a &lt;b&gt; &amp; c\n\\```\n  \\~~~x"
        );
        assert_eq!(markdown_line("a\r\nb\rc\nd"), "a b c d");
        assert_eq!(markdown_cell(r"x | y \| z"), r"x \| y \\\| z");
        assert_eq!(markdown_code_block("sh", "ls"), "```sh\nls\n```\n");
        assert_eq!(
            markdown_code_block("s`h\n", "a ```` b\n"),
            "`````sh\na ```` b\n`````\n"
        );
        assert_eq!(markdown_code_block("", ""), "```\n```\n");
        assert_eq!(markdown_inline_code("a`b"), "``a`b``");
        assert_eq!(markdown_inline_code("`x"), "`` `x ``");
        assert_eq!(markdown_inline_code("p\nq"), "`p q`");
    }
}
