//! The progress line a person sees on a terminal during long runs and `tune`: kernel,
//! shape, phase, sample i/N and elapsed time, redrawn in place on stderr; for `burn` a
//! bar with the time left, the dispatches verified and the current throughput. Off when
//! stderr is not a terminal and in `--json` mode, so CI logs stay clean. Every line the
//! console prints goes through `console::suspend`, so no line shares the terminal row with the
//! bar.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{At, Progress};

/// Set (to `off`) for processes that share a terminal with others drawing: the cards of
/// `--adapter all --concurrent`.
pub const OFF_ENV: &str = "GPU_CANARY_PROGRESS";

/// Whether to draw: a person at a terminal, stdout not reserved for a document, and no
/// other process drawing on the same terminal.
pub fn enabled(json: bool, stderr_is_terminal: bool) -> bool {
    !json && stderr_is_terminal && std::env::var_os(OFF_ENV).is_none_or(|v| v != "off")
}

/// The line for `at`, e.g. `case 3/12 (9 left) · matmul-f32/4096x4096x4096 · dispatch ·
/// sample 12/50 · 3.4 s`.
pub fn line(at: &At) -> String {
    if let Some(b) = &at.burn {
        return burn_line(at, b);
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some((i, n)) = at.case {
        parts.push(format!("case {i}/{n} ({} left)", n.saturating_sub(i)));
    }
    if let Some(c) = &at.context {
        parts.push(c.clone());
    }
    parts.push(at.kernel.clone().unwrap_or_else(|| "gpu-canary".into()));
    if !at.phase.is_empty() {
        parts.push(at.phase.clone());
    }
    if let Some((i, n)) = at.sample {
        parts.push(format!("sample {i}/{n}"));
    }
    if let Some(t) = at.since {
        parts.push(format!("{:.1} s", t.elapsed().as_secs_f64()));
    }
    parts.join(" · ")
}

/// The text beside burn's bar: `12 s of 60 s · ETA 48 s · 340 dispatches verified ·
/// 1.2 TFLOP/s`.
fn burn_line(at: &At, b: &crate::runner::BurnAt) -> String {
    let left = (b.duration_s - b.elapsed_s).max(0.0);
    let mut parts = vec![
        format!("{:.0} s of {:.0} s", b.elapsed_s, b.duration_s),
        format!("ETA {left:.0} s"),
        format!("{} dispatches verified", b.verified),
    ];
    if let Some(r) = &b.throughput {
        parts.push(r.clone());
    }
    if let Some(k) = &at.kernel {
        parts.insert(0, k.clone());
    }
    parts.join(" · ")
}

/// Redraws the line from a [`Progress`] ten times a second until dropped.
pub struct Display {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Display {
    /// Starts drawing when [`enabled`] (on stderr's terminal); otherwise does nothing.
    pub fn start(progress: Arc<Progress>, json: bool) -> Display {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = enabled(json, std::io::stderr().is_terminal()).then(|| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                let spinner =
                    ProgressStyle::with_template("{spinner} {msg}").expect("a fixed template");
                let barred = ProgressStyle::with_template("{spinner} [{bar:24}] {msg}")
                    .expect("a fixed template")
                    .progress_chars("=> ");
                bar.set_style(spinner);
                crate::console::draw_bar(Some(bar.clone()));
                let mut styled = false;
                while !stop.load(Ordering::Relaxed) {
                    let at = progress.get();
                    if let Some(b) = &at.burn {
                        if !styled {
                            bar.set_style(barred.clone());
                            styled = true;
                        }
                        // Tenths of a second: the bar moves smoothly in a short burn.
                        bar.set_length((b.duration_s * 10.0).max(1.0) as u64);
                        bar.set_position((b.elapsed_s.min(b.duration_s) * 10.0) as u64);
                    }
                    bar.set_message(line(&at));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
                crate::console::draw_bar(None);
                bar.finish_and_clear();
            })
        });
        Display { stop, thread }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_person_at_a_terminal_sees_it() {
        assert!(enabled(false, true));
        assert!(!enabled(true, true), "--json keeps stderr clean");
        assert!(!enabled(false, false), "CI logs stay clean");
    }

    #[test]
    fn the_line_names_kernel_phase_sample_and_elapsed() {
        let p = Progress::default();
        p.set(Some("matmul-f32/512x512x512"), "dispatch");
        p.sample(12, 30);
        let l = line(&p.get());
        assert!(
            l.starts_with("matmul-f32/512x512x512 · dispatch · sample 12/30 · "),
            "{l}"
        );
        assert!(l.ends_with(" s"), "{l}");
        p.set_context(Some("config 3/37".into()));
        p.set(Some("reduce-f32/4194304"), "verify");
        assert!(
            line(&p.get()).starts_with("config 3/37 · reduce-f32/4194304 · verify · "),
            "{}",
            line(&p.get())
        );
    }
}
