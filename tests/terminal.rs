//! The progress display on a real pseudo-terminal (`script` from util-linux): it is
//! drawn, it never shares a row with a line the command prints, `run` names the case and
//! how many are left, `burn` draws a bar with its ETA; and nothing is drawn where stderr
//! is not a terminal.

use std::process::Command;

use crate::common::*;

/// Whether `c` is one of the spinner's glyphs (indicatif's default: braille).
fn spinner(c: char) -> bool {
    ('\u{2801}'..='\u{28ff}').contains(&c)
}

/// What `gpu-canary ARGS` writes to a pseudo-terminal (stdout and stderr both).
fn on_a_terminal(args: &[&str]) -> String {
    let quoted: Vec<String> = std::iter::once(bin_path().display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let out = Command::new("script")
        .args(["-qfec", &quoted.join(" "), "/dev/null"])
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "160")
        .env("LINES", "50")
        .output();
    // `script` is util-linux's (bsdutils on Debian, which is essential): a machine
    // without it cannot run these tests, and says so by failing.
    let out = out.expect("`script` from util-linux runs the pseudo-terminal tests");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the console writes UTF-8")
}

/// A terminal just capable enough for what indicatif and the console write: text,
/// `\r`, `\n`, erase in line (`ESC[K`, `ESC[2K`), cursor up/down/column; colours and
/// modes ignored. Every row that a newline ends is recorded as it was then, so a row the
/// bar later cleared is still seen.
struct Screen {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    ended: Vec<String>,
}

impl Screen {
    fn render(text: &str) -> Screen {
        let mut s = Screen {
            rows: vec![Vec::new()],
            row: 0,
            col: 0,
            ended: Vec::new(),
        };
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' => s.col = 0,
                '\n' => {
                    s.ended.push(s.rows[s.row].iter().collect());
                    s.row += 1;
                    if s.row == s.rows.len() {
                        s.rows.push(Vec::new());
                    }
                }
                '\x1b' => {
                    if chars.peek() != Some(&'[') {
                        chars.next();
                        continue;
                    }
                    chars.next();
                    let mut params = String::new();
                    let mut end = ' ';
                    for p in chars.by_ref() {
                        if p.is_ascii_alphabetic() || p == '~' {
                            end = p;
                            break;
                        }
                        params.push(p);
                    }
                    let n: usize = params.trim_start_matches('?').parse().unwrap_or(0);
                    let line = &mut s.rows[s.row];
                    match end {
                        'K' if n == 2 => line.clear(),
                        'K' => line.truncate(s.col),
                        'A' => s.row = s.row.saturating_sub(n.max(1)),
                        'B' => {
                            s.row += n.max(1);
                            while s.rows.len() <= s.row {
                                s.rows.push(Vec::new());
                            }
                        }
                        'G' => s.col = n.saturating_sub(1),
                        'J' => {
                            line.truncate(s.col);
                            s.rows.truncate(s.row + 1);
                        }
                        _ => {}
                    }
                }
                c if !c.is_control() => {
                    let line = &mut s.rows[s.row];
                    while line.len() < s.col {
                        line.push(' ');
                    }
                    if s.col < line.len() {
                        line[s.col] = c;
                    } else {
                        line.push(c);
                    }
                    s.col += 1;
                }
                _ => {}
            }
        }
        s
    }

    /// Every row a line ended on, and the rows on screen at the end.
    fn rows(&self) -> impl Iterator<Item = String> + '_ {
        self.ended
            .iter()
            .cloned()
            .chain(self.rows.iter().map(|r| r.iter().collect()))
    }
}

/// The rows where a spinner glyph sits beside an output line: the bar is one row with no
/// newline of its own, so a row a newline ends holds a glyph only if a line was written
/// over the bar.
fn garbled(screen: &Screen) -> std::collections::BTreeSet<String> {
    let last = screen.rows.len() - 1;
    screen
        .ended
        .iter()
        .filter(|r| r.chars().any(spinner))
        .cloned()
        // On the final screen, the bar may still sit on the last row alone.
        .chain(
            screen.rows[..last]
                .iter()
                .map(|r| r.iter().collect::<String>())
                .filter(|r| r.chars().any(spinner)),
        )
        .collect()
}

#[test]
fn the_screen_model_sees_a_line_written_over_the_bar() {
    // What the unsuspended console did: the bar drawn, then a line written after it.
    let bad = Screen::render("\r\x1b[2K\u{2809} gpu-canary · init adapter: llvmpipe\r\n");
    assert_eq!(garbled(&bad).len(), 1);
    // The bar cleared first (indicatif's suspend), then the line, then the bar again.
    let good = Screen::render(
        "\r\x1b[2K\u{2809} gpu-canary · init\r\x1b[2Kadapter: llvmpipe\r\n\u{2819} case 1/2",
    );
    assert!(garbled(&good).is_empty(), "{:?}", garbled(&good));
    assert!(good.rows().any(|r| r == "adapter: llvmpipe"));
}

#[test]
fn on_a_terminal_no_line_shares_a_row_with_the_spinner() {
    // Two kernels, enough samples that the bar is drawn for seconds while lines print.
    let out = on_a_terminal(&[
        "run",
        "--kernel",
        "matmul-u32,reduce-f32",
        "--iterations",
        "60",
    ]);
    assert!(out.chars().any(spinner), "the spinner was drawn: {out:?}");
    // Each kernel's shapes are cases: the first names how many are left, the last none.
    let n: usize = out
        .split("case 1/")
        .nth(1)
        .and_then(|s| s.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no first case: {out:?}"));
    assert!(n >= 2, "{out:?}");
    assert!(
        out.contains(&format!("case 1/{n} ({} left)", n - 1)),
        "{out:?}"
    );
    assert!(out.contains(&format!("case {n}/{n} (0 left)")), "{out:?}");
    let screen = Screen::render(&out);
    assert!(garbled(&screen).is_empty(), "{:?}", garbled(&screen));
    // The lines themselves all arrived, whole.
    let rows: Vec<String> = screen.rows().collect();
    for want in ["adapter: ", "verdict: PASS"] {
        assert!(
            rows.iter().any(|r| r.starts_with(want)),
            "{want}: {rows:#?}"
        );
    }
}

#[test]
fn burn_draws_a_bar_with_its_eta_and_the_dispatches_verified() {
    let out = on_a_terminal(&[
        "burn",
        "--kernel",
        "reduce-f32",
        "--size",
        "262147",
        "--duration",
        "4s",
        "--interval",
        "1s",
    ]);
    let screen = Screen::render(&out);
    assert!(garbled(&screen).is_empty(), "{:?}", garbled(&screen));
    // The bar as drawn at some point: `[====>   ] … s of 4 s · ETA … · N dispatches verified`.
    assert!(out.contains("[="), "{out:?}");
    assert!(out.contains(" s of 4 s · ETA "), "{out:?}");
    let verified = out
        .split(" dispatches verified")
        .filter_map(|s| s.rsplit(' ').next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert!(verified > 0, "{out:?}");
    // And the current throughput, in the kernel's unit, after the dispatches verified.
    assert!(
        out.split(" dispatches verified · ").skip(1).any(|s| s
            .split_whitespace()
            .nth(1)
            .is_some_and(|u| u.ends_with("B/s"))),
        "{out:?}"
    );
}

#[test]
fn off_a_terminal_nothing_is_drawn() {
    let out = bin()
        .args(["run", "--kernel", "matmul-u32", "--size", "64x64x64"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for (name, s) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let s = String::from_utf8_lossy(s);
        assert!(
            !s.contains('\x1b') && !s.chars().any(spinner),
            "{name}: {s:?}"
        );
    }
}

#[test]
fn cards_at_once_draw_no_progress_over_each_other() {
    // lavapipe's Vulkan and GL adapters are two cards; at once, neither draws a bar
    // (they share the terminal), and their lines arrive whole.
    let dir = tempfile::tempdir().unwrap();
    let out = on_a_terminal(&[
        "run",
        "--adapter",
        "all",
        "--concurrent",
        "--kernel",
        "reduce-f32",
        "--size",
        "1048579",
        "--iterations",
        "40",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    let screen = Screen::render(&out);
    assert!(garbled(&screen).is_empty(), "{:?}", garbled(&screen));
    assert!(!out.chars().any(spinner), "{out:?}");
    assert!(out.contains("verdict: "), "{out:?}");
}
