//! The progress line a person sees on a terminal during long runs and `tune`: kernel,
//! shape, phase, sample i/N and elapsed time, redrawn in place on stderr. Off when
//! stderr is not a terminal and in `--json` mode, so CI logs stay clean.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{At, Progress};

/// Whether to draw: a person at a terminal, and stdout not reserved for a document.
pub fn enabled(json: bool, stderr_is_terminal: bool) -> bool {
    !json && stderr_is_terminal
}

/// The line for `at`, e.g. `matmul-f32/4096x4096x4096 · dispatch · sample 12/50 · 3.4 s`.
pub fn line(at: &At) -> String {
    let mut parts: Vec<String> = Vec::new();
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
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}").expect("a fixed template"),
                );
                while !stop.load(Ordering::Relaxed) {
                    bar.set_message(line(&progress.get()));
                    bar.tick();
                    std::thread::sleep(Duration::from_millis(100));
                }
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
