//! The escapers against many generated hostile strings: backtick runs, fences,
//! pipes, angle brackets, `<script>`, backslashes and every kind of line break.

use planform_core::rng::Rng;
use planform_viz::escape::{
    html, markdown_cell, markdown_code_block, markdown_inline_code, markdown_line, markdown_text,
};

const PIECES: [&str; 22] = [
    "`",
    "``",
    "```",
    "````",
    "~~~",
    "|",
    "\\",
    "\\|",
    "<",
    ">",
    "&",
    "<script>",
    "</script>",
    "<SCRIPT src=x>",
    "\n",
    "\r\n",
    "\r",
    " ",
    "   ",
    "a",
    "-",
    "&lt;",
];

fn hostile(rng: &mut Rng) -> String {
    let n = rng.below_usize(24);
    (0..n)
        .map(|_| PIECES[rng.below_usize(PIECES.len())])
        .collect()
}

/// CommonMark line splitting (`\r\n`, `\n`, `\r`).
fn md_lines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\n' || b[i] == b'\r' {
            out.push(&s[start..i]);
            if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// A closing fence for an opening fence of `n` backticks (CommonMark: up to
/// three spaces, at least `n` backticks, then only blanks).
fn closes(line: &str, n: usize) -> bool {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return false;
    }
    let ticks = t.len() - t.trim_start_matches('`').len();
    ticks >= n && t[ticks..].trim().is_empty()
}

#[test]
fn code_blocks_stay_closed_and_verbatim() {
    let mut rng = Rng::new(7);
    for _ in 0..5000 {
        let body = hostile(&mut rng);
        let md = markdown_code_block("sh", &body);
        let lines = md_lines(&md);
        let open = lines[0];
        let n = open.len() - open.trim_start_matches('`').len();
        assert!(n >= 3 && &open[n..] == "sh", "{md:?}");
        // The first closing fence is the last line: nothing inside closes it.
        let close = (1..lines.len()).find(|&i| closes(lines[i], n));
        assert_eq!(close, Some(lines.len() - 1), "block closed early: {md:?}");
        // Content is verbatim (line endings aside).
        assert_eq!(
            lines[1..lines.len() - 1].join("\n"),
            md_lines(&body).join("\n"),
            "{body:?}"
        );
    }
}

/// Text outside code spans has no raw `<`; a line never opens a fence.
#[test]
fn prose_lines_and_cells_carry_no_markup() {
    let mut rng = Rng::new(8);
    for _ in 0..5000 {
        let s = hostile(&mut rng);
        for (what, out) in [
            ("text", markdown_text(&s)),
            ("line", markdown_line(&s)),
            ("cell", markdown_cell(&s)),
        ] {
            assert!(!out.contains('<') && !out.contains('>'), "{what}: {out:?}");
            // (A fence cannot open inside a table cell, which starts after `|`.)
            for l in md_lines(&out).into_iter().filter(|_| what != "cell") {
                let t = l.trim_start_matches([' ', '\t']);
                assert!(
                    !t.starts_with("```") && !t.starts_with("~~~"),
                    "{what} opens a fence: {out:?}"
                );
            }
            if what != "text" {
                assert!(!out.contains(['\n', '\r']), "{what}: {out:?}");
            }
        }
        // A cell has no unescaped pipe (one preceded by an even run of backslashes).
        let cell = markdown_cell(&s);
        let b = cell.as_bytes();
        for (i, _) in cell.match_indices('|') {
            let slashes = b[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            assert_eq!(slashes % 2, 1, "unescaped pipe in {cell:?}");
        }
        // Undoing the cell escapes gives the input on one line.
        let mut undone = String::new();
        let mut chars = cell
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .chars()
            .collect::<Vec<_>>()
            .into_iter();
        while let Some(c) = chars.next() {
            if c == '\\' {
                let next = chars.next().expect("a backslash escapes something");
                assert!(next == '\\' || next == '|', "{cell:?}");
                undone.push(next);
            } else {
                undone.push(c);
            }
        }
        let one_line = s.replace("\r\n", " ").replace(['\n', '\r'], " ");
        assert_eq!(undone, one_line, "{s:?}");
    }
}

#[test]
fn code_spans_and_html() {
    let mut rng = Rng::new(9);
    for _ in 0..5000 {
        let s = hostile(&mut rng);
        let span = markdown_inline_code(&s);
        let n = span.len() - span.trim_start_matches('`').len();
        let inner = &span[n..span.len() - n];
        assert!(span.ends_with(&"`".repeat(n)));
        // No backtick run of the delimiter's length inside.
        assert!(
            !inner.split(|c| c != '`').any(|run| run.len() == n),
            "{span:?}"
        );
        assert!(!span.contains(['\n', '\r']));
        let h = html(&s);
        assert!(!h.contains(['<', '>', '"', '\'']), "{h:?}");
        assert_eq!(
            h.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
            s
        );
    }
}
