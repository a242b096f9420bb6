//! Names from outside (GPU names, driver strings, hostnames, paths, lane names) made safe
//! for the formats they are written into. result.json and the trace keep them as they
//! are (JSON escapes everything); the terminal, Markdown and SVG get these forms.

/// `s` with every control character written as an escape (`\x1b`, `\u{85}`), so a name
/// cannot move the cursor, colour a terminal, or put a character XML forbids into an SVG.
/// Everything else, non-ASCII letters included, is kept.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let n = c as u32;
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A terminal line: [`printable`], except the line breaks and tabs a message is made of.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return s.into();
    }
    s.split('\n')
        .map(|l| {
            l.split('\t')
                .map(|p| printable(p).into_owned())
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
        .into()
}

/// Text for a Markdown table cell or line: [`printable`], with the characters that would
/// end a cell, start markup or open HTML escaped (`\|`, `\*`, `&lt;`), so a row keeps
/// its header's column count and a name renders as the name.
pub fn md(s: &str) -> String {
    let p = printable(s);
    let mut out = String::with_capacity(p.len() + 8);
    for c in p.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '|' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A size as operators read a card's memory: decimal units (141.1 GB), one decimal.
pub fn size_text(bytes: u64) -> String {
    let b = bytes as f64;
    let (v, unit) = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        .into_iter()
        .find(|&(s, _)| b >= s)
        .map_or((b, "B"), |(s, u)| (b / s, u));
    if unit == "B" {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(printable("a\x1b[31mb\x01"), "a\\x1b[31mb\\x01");
        assert_eq!(printable("\u{85}x"), "\\x85x");
        assert_eq!(printable("NVIDIA H200 – π"), "NVIDIA H200 – π");
        assert_eq!(terminal("a\x1b\nb\tc"), "a\\x1b\nb\tc");
    }

    #[test]
    fn a_cell_cannot_split_or_open_markup() {
        let cell = md("ev|l <&> `x` *b* \x1b");
        assert!(!cell.contains('\x1b'));
        assert_eq!(cell.matches('|').count(), cell.matches("\\|").count());
        assert!(!cell.contains('<') && !cell.contains('>'));
        assert_eq!(cell, "ev\\|l &lt;&amp;&gt; \\`x\\` \\*b\\* \\\\x1b");
    }
}
