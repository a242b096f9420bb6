//! `--adapter all` (run, burn, preflight): every card once, each in a process of its own
//! (`gpu-canary` again, with that card's adapter and `--out DIR/<card>/`), one after
//! another or all at once (`--concurrent`). A process per card keeps each card's trace,
//! watchdog and driver to itself: a card that hangs ends its own run, not the others'.
//! Then the combined result: `DIR/result.json` with each card's verdict and the worst of
//! them, a summary with every card's, and the metrics and JUnit report of all the cards
//! (each sample labelled with its card, a suite per card).

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Instant;

use crate::export::{self, Exporter};
use crate::gpu::CardRef;
use crate::model::{CardOutcome, RunReport, RunStatus, Stop, Verdict};
use crate::run::{RunConfig, RunOutcome};

/// `run` on the adapter the filter picks, or on every card.
pub fn run_any(cfg: RunConfig) -> RunOutcome {
    if cfg.filter.all {
        run_all(cfg)
    } else {
        crate::run::run(cfg)
    }
}

/// The flags a card's own process must not inherit: the card, its place and the
/// combined exports are set anew (`true`: the flag takes a value).
const REPLACED: [(&str, bool); 9] = [
    ("--adapter", true),
    ("--backend", true),
    ("--out", true),
    ("--export-metrics", true),
    ("--export-junit", true),
    ("--export-bmf", true),
    ("--json", false),
    ("--concurrent", false),
    ("--force", false),
];

/// This process's arguments without [`REPLACED`] (as `--flag value` or `--flag=value`).
fn inherited(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        let s = a.to_string_lossy();
        let hit = REPLACED
            .iter()
            .find(|(f, _)| s == *f || (s.starts_with(f) && s[f.len()..].starts_with('=')));
        match hit {
            Some((f, takes)) => skip_value = *takes && s == *f,
            None => out.push(a.clone()),
        }
    }
    out
}

struct Card {
    card: CardRef,
    dir: std::path::PathBuf,
    child: Option<Child>,
    code: i32,
    spawn_error: Option<String>,
}

// Long (about 140 lines): the cards' processes, the signal flag they share and the order
// they start in are one sequence; its closures borrow the same flag and directory.
fn run_all(cfg: RunConfig) -> RunOutcome {
    let started = Instant::now();
    let out = cfg
        .out
        .clone()
        .expect("config refuses --adapter all without --out");
    let cards = crate::gpu::cards(cfg.filter.backends);
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let base = inherited(&args);
    let exe = std::env::current_exe().unwrap_or_else(|_| "gpu-canary".into());
    // Signals reach this process: they are passed on to the cards' processes, and no
    // card starts after one.
    let signalled = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let s = signalled.clone();
        // SAFETY: the handler only stores into an atomic.
        let _ = unsafe {
            signal_hook::low_level::register(sig, move || {
                s.store(sig, std::sync::atomic::Ordering::SeqCst)
            })
        };
    }
    let json = cfg.json;
    // Cards at once share one terminal: none draws a progress line, which would share
    // its row with another card's (each draws its own only when they run in turn).
    let quiet = cfg.filter.concurrent;
    let spawn = |c: &CardRef, dir: &Path| -> std::io::Result<Child> {
        let by = if c.info.device_pci_bus_id.is_empty() {
            c.info.name.clone()
        } else {
            c.info.device_pci_bus_id.clone()
        };
        let mut cmd = Command::new(&exe);
        // Under --json, stdout is the combined document alone: the cards' lines go to
        // stderr.
        if json {
            use std::os::fd::AsFd;
            cmd.stdout(std::io::stderr().as_fd().try_clone_to_owned()?);
        }
        cmd.args(&base)
            .arg("--adapter")
            .arg(by)
            .arg("--backend")
            .arg(c.info.backend.to_str())
            .arg("--out")
            .arg(dir)
            .arg("--force")
            // The combined summary is the step summary's; the flags above pick the card.
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("WGPU_ADAPTER_NAME")
            .env_remove("WGPU_BACKEND");
        if quiet {
            cmd.env(crate::progress::OFF_ENV, "off");
        }
        cmd.spawn()
    };
    let mut runs: Vec<Card> = cards
        .into_iter()
        .map(|card| Card {
            dir: out.dir.join(card.dir_name()),
            card,
            child: None,
            code: crate::check::verdict::card_lost().1,
            spawn_error: None,
        })
        .collect();
    let say = |l: &str| {
        if json {
            crate::console::err(l)
        } else {
            crate::console::line(l)
        }
    };
    say(&format!(
        "cards: {} ({}), {}",
        runs.len(),
        runs.iter()
            .map(|c| c.card.key.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        if cfg.filter.concurrent {
            "at the same time"
        } else {
            "one after another"
        }
    ));
    let wait = |c: &mut Card, signalled: &std::sync::atomic::AtomicI32| {
        let Some(child) = c.child.as_mut() else {
            return;
        };
        let mut passed_on = false;
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    c.code = st.code().unwrap_or_else(|| {
                        use std::os::unix::process::ExitStatusExt;
                        128 + st.signal().unwrap_or(0)
                    });
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    c.spawn_error = Some(format!("cannot wait for its process: {e}"));
                    return;
                }
            }
            let sig = signalled.load(std::sync::atomic::Ordering::SeqCst);
            if sig != 0 && !passed_on {
                // SAFETY: signals a child of this process by its pid.
                unsafe { libc::kill(child.id() as i32, sig) };
                passed_on = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    if cfg.filter.concurrent {
        for c in &mut runs {
            match spawn(&c.card, &c.dir) {
                Ok(ch) => c.child = Some(ch),
                Err(e) => c.spawn_error = Some(format!("cannot start its process: {e}")),
            }
        }
        for c in &mut runs {
            wait(c, &signalled);
        }
    } else {
        for c in &mut runs {
            if signalled.load(std::sync::atomic::Ordering::SeqCst) != 0 {
                c.spawn_error = Some("not started: the run was cancelled".into());
                continue;
            }
            match spawn(&c.card, &c.dir) {
                Ok(ch) => c.child = Some(ch),
                Err(e) => c.spawn_error = Some(format!("cannot start its process: {e}")),
            }
            wait(c, &signalled);
        }
    }
    let sig = signalled.load(std::sync::atomic::Ordering::SeqCst);
    combine(&cfg, &out, &runs, started, sig)
}

/// The combined result from the cards' own, its exports, and the outcome.
fn combine(
    cfg: &RunConfig,
    out: &export::OutDir,
    runs: &[Card],
    started: Instant,
    signal: i32,
) -> RunOutcome {
    let mut report = crate::run::new_report(cfg);
    report.preflight = None;
    let read = card_outcomes(runs, &mut report);
    if report.cards.is_empty() {
        report.stopped = Some(Stop {
            reason: "no-adapter".into(),
            kernel: None,
            phase: Some("init".into()),
            message: "--adapter all: no adapter found on any backend; run `gpu-canary adapters`"
                .into(),
        });
    }
    let judged: Vec<(Verdict, i32)> = report
        .cards
        .iter()
        .map(|c| (c.verdict, c.exit_code))
        .collect();
    let (verdict, code) = crate::check::verdict::combined(&judged, signal, false);
    report.verdict = verdict;
    report.exit_code = code;
    report.status = RunStatus::Complete;
    // The action is the worst card's, with its card named; without one, the run's own.
    let worst = report
        .cards
        .iter()
        .find(|c| (c.verdict, c.exit_code) == (verdict, code))
        .and_then(|c| read.iter().find(|(k, _)| *k == c.card))
        .and_then(|(_, r)| r.diagnosis.clone());
    report.diagnosis = Some(worst.unwrap_or_else(|| crate::check::verdict::diagnose(&report)));
    // The card's artifacts the combined exports are made of.
    let cards: Vec<(&str, &RunReport)> = read.iter().map(|(k, r)| (k.as_str(), r)).collect();
    let mut wanted: Vec<(std::path::PathBuf, Vec<u8>)> = Vec::new();
    if let Some(p) = &cfg.export_metrics {
        wanted.push((p.clone(), export::metrics::render_cards(&cards)));
    }
    if let Some(p) = &cfg.export_junit {
        wanted.push((p.clone(), export::junit::render_cards(&cards)));
    }
    for (path, bytes) in wanted {
        if let Err(e) = export::write_atomic(&path, &bytes) {
            report
                .artifact_errors
                .push(format!("cannot write {}: {e}", path.display()));
        }
    }
    report.duration_s = started.elapsed().as_secs_f64();
    let summary = summary(&report, runs);
    if let Err(e) = export::write_atomic(&out.summary(), summary.as_bytes()) {
        report
            .artifact_errors
            .push(format!("cannot write {}: {e}", out.summary().display()));
    }
    let fail_artifacts = |r: &mut RunReport| {
        let (v, c) = crate::check::verdict::combined(
            &[(r.verdict, r.exit_code)],
            0,
            !r.artifact_errors.is_empty(),
        );
        r.verdict = v;
        r.exit_code = c;
    };
    fail_artifacts(&mut report);
    if let Err(e) = export::write_atomic(&out.result(), &export::json::Json.render(&report)) {
        report
            .artifact_errors
            .push(format!("cannot write {}: {e}", out.result().display()));
        fail_artifacts(&mut report);
    }
    // Under --json, stdout is the combined document; one not delivered is exit 3 (main).
    if cfg.json {
        let _ = crate::console::try_bytes(&export::json::Json.render(&report));
    }
    for e in &report.artifact_errors {
        crate::console::err(&format!("error: {e}"));
    }
    if let Err(e) = export::append_step_summary(summary.as_bytes()) {
        crate::console::err(&format!(
            "warning: cannot append to GITHUB_STEP_SUMMARY ({e}); the verdict stands"
        ));
    }
    if !cfg.json {
        say(&report);
    }
    RunOutcome {
        verdict: report.verdict,
        exit_code: report.exit_code,
        abandoned: false,
    }
}

/// Each card's outcome in the combined report (a card that left no result is an error
/// named in `artifact_errors`), and the results that were read, by card.
fn card_outcomes(runs: &[Card], report: &mut RunReport) -> Vec<(String, RunReport)> {
    let mut read: Vec<(String, RunReport)> = Vec::new();
    for c in runs {
        let path = c.dir.join("result.json");
        let rel = format!("{}/result.json", c.card.dir_name());
        let (verdict, why) = match crate::model::read_report(&path) {
            Ok(r) => {
                let v = r.verdict;
                read.push((c.card.key.clone(), r));
                (v, None)
            }
            Err(e) => (Verdict::Error, Some(e)),
        };
        let verdict = match (&c.spawn_error, why) {
            (Some(e), _) => {
                report
                    .artifact_errors
                    .push(format!("card {}: {e}", c.card.key));
                Verdict::Error
            }
            (None, Some(e)) => {
                report
                    .artifact_errors
                    .push(format!("card {}: no result ({e})", c.card.key));
                Verdict::Error
            }
            (None, None) => verdict,
        };
        report.cards.push(CardOutcome {
            card: c.card.key.clone(),
            adapter: c.card.info.name.clone(),
            backend: c.card.info.backend.to_str().to_owned(),
            verdict,
            exit_code: if c.spawn_error.is_some() {
                crate::check::verdict::card_lost().1
            } else {
                c.code
            },
            result: rel,
        });
    }
    read
}

/// The combined verdict line, each card's verdict named, and the action.
fn say(report: &RunReport) {
    crate::console::line(&format!(
        "verdict: {} (exit {}) over {} cards: {}",
        export::lines::verdict_word(report.verdict),
        report.exit_code,
        report.cards.len(),
        report
            .cards
            .iter()
            .map(|c| format!("{} {}", c.card, export::lines::verdict_word(c.verdict)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if let Some(d) = &report.diagnosis {
        crate::console::line(&export::lines::action_line(d));
    }
}

/// The combined summary: a table of the cards, then each card's own summary.
fn summary(r: &RunReport, runs: &[Card]) -> String {
    use crate::text::md;
    let mut s = format!(
        "### gpu-canary: {} (exit {}) over {} cards\n\n| card | adapter | backend | verdict | result |\n|---|---|---|---|---|\n",
        export::lines::verdict_word(r.verdict),
        r.exit_code,
        r.cards.len()
    );
    for c in &r.cards {
        s.push_str(&format!(
            "| {} | {} | {} | {} (exit {}) | {} |\n",
            md(&c.card),
            md(&c.adapter),
            c.backend,
            export::lines::verdict_word(c.verdict),
            c.exit_code,
            md(&c.result)
        ));
    }
    for e in &r.artifact_errors {
        s.push_str(&format!("\n> {}\n", md(e)));
    }
    for c in runs {
        if let Ok(text) = std::fs::read_to_string(c.dir.join("summary.md")) {
            // Each card's own heading, one level down.
            s.push_str(&format!("\n#{}", text.trim_start()));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cards_process_gets_the_flags_but_the_card_its_place_and_the_exports() {
        let args: Vec<OsString> = [
            "run",
            "--adapter",
            "all",
            "--out",
            "d",
            "--kernel",
            "reduce-f32",
            "--json",
            "--export-metrics=m.prom",
            "--backend",
            "vulkan",
            "--force",
            "--concurrent",
            "--size",
            "3",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let kept: Vec<String> = inherited(&args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept, ["run", "--kernel", "reduce-f32", "--size", "3"]);
    }
}
