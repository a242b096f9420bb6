//! How a run ended and what it measured → its verdict and exit code. Pure: no I/O, so
//! every rule is unit-tested here, and `result.json` records the same code `main`
//! returns.

use crate::error::{EnvKind, Error, exit};
use crate::model::{
    Action, BurnReport, Diagnosis, KernelResult, KernelStatus, MemoryCoverage, RunReport,
    StepStatus, Stop, Verdict,
};

/// How the run ended.
#[derive(Debug)]
pub enum Ending {
    /// Every case ran (passed, failed or skipped).
    Finished,
    /// The worker stopped on an error.
    Failed(Error),
    /// The worker panicked.
    Panicked(String),
    /// `--timeout` expired.
    TimedOut { timeout_s: f64 },
    /// A signal (SIGINT or SIGTERM) stopped the run.
    Signal(i32),
}

/// Where the run was when it ended (kernel and phase), for the stop record.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub kernel: Option<String>,
    pub phase: String,
}

#[derive(Debug, Clone)]
pub struct Judgement {
    pub verdict: Verdict,
    pub exit_code: i32,
    pub stopped: Option<Stop>,
    /// Every case ran: the result is complete, not partial.
    pub complete: bool,
}

/// The verdict. A wrong result outranks everything that happened after it (an
/// environment failure, a timeout), since it was measured; a signal outranks all.
pub fn judge(ending: Ending, kernels: &[KernelResult], at: &Place) -> Judgement {
    let any_fail = kernels.iter().any(|k| k.status == KernelStatus::Fail);
    let any_pass = kernels.iter().any(|k| k.status == KernelStatus::Pass);
    let stop = |reason: String, message: String| Stop {
        reason,
        kernel: at.kernel.clone(),
        phase: Some(at.phase.clone()),
        message,
    };
    // A wrong result, or else the environment's failure with its own code.
    let failed = |code: i32| {
        if any_fail {
            (Verdict::Fail, exit::WRONG_RESULT)
        } else {
            (Verdict::Error, code)
        }
    };
    let (verdict, exit_code, stopped, complete) = match ending {
        Ending::Finished if any_fail => (Verdict::Fail, exit::WRONG_RESULT, None, true),
        Ending::Finished if any_pass => (Verdict::Pass, exit::OK, None, true),
        Ending::Finished => (
            Verdict::Error,
            exit::ENVIRONMENT,
            Some(Stop {
                reason: "nothing-ran".into(),
                kernel: None,
                phase: None,
                message: "no kernel could run on this adapter (every case was skipped)".into(),
            }),
            true,
        ),
        Ending::Failed(e) => {
            let reason = match &e {
                Error::Usage(_) => "usage".to_owned(),
                Error::Environment { kind, .. } => Stop::env_reason(*kind),
            };
            let (v, c) = failed(e.exit_code());
            (v, c, Some(stop(reason, e.to_string())), false)
        }
        Ending::Panicked(msg) => {
            let (v, c) = failed(exit::ENVIRONMENT);
            let reason = Stop::env_reason(EnvKind::Panic);
            (
                v,
                c,
                Some(stop(reason, format!("internal panic: {msg}"))),
                false,
            )
        }
        Ending::TimedOut { timeout_s } => {
            let within = at
                .kernel
                .as_deref()
                .map(|k| format!(" in {k}"))
                .unwrap_or_default();
            let msg = format!(
                "--timeout {timeout_s} s expired{within} during {}; the GPU or driver stopped responding (or the suite is too large for the limit)",
                at.phase
            );
            let (v, c) = failed(exit::ENVIRONMENT);
            (v, c, Some(stop("timeout".into(), msg)), false)
        }
        Ending::Signal(sig) => {
            let (name, c) = if sig == signal_hook::consts::SIGINT {
                ("SIGINT", exit::SIGINT)
            } else {
                ("SIGTERM", exit::SIGTERM)
            };
            let msg = format!("cancelled by {name}");
            (
                Verdict::Cancelled,
                c,
                Some(stop("cancelled".into(), msg)),
                false,
            )
        }
    };
    Judgement {
        verdict,
        exit_code,
        stopped,
        complete,
    }
}

/// A burn's drift on top of the run's judgement: only a burn that otherwise passed
/// ends in `drift` (exit 5), when throughput fell by more than `--max-drift` with no
/// throttle recorded to explain it, or with one under `--fail-on-throttle`.
pub fn with_burn(j: Judgement, burn: Option<&BurnReport>) -> Judgement {
    // Every dispatch counted must have been verified: a burn that counted more than it
    // proved is no pass, whatever its books say.
    if j.verdict == Verdict::Pass && burn.is_some_and(|b| b.dispatches_verified < b.dispatches) {
        return Judgement {
            verdict: Verdict::Fail,
            exit_code: exit::WRONG_RESULT,
            ..j
        };
    }
    let drifted = burn.is_some_and(|b| {
        b.drift.as_ref().is_some_and(|d| {
            d.exceeded && d.inconclusive.is_none() && (!d.throttled || b.fail_on_throttle)
        })
    });
    if drifted && j.verdict == Verdict::Pass {
        Judgement {
            verdict: Verdict::Drift,
            exit_code: exit::DRIFT,
            ..j
        }
    } else {
        j
    }
}

/// Why the run vouches for less of the card than `--require-coverage` (`required`, a
/// fraction) asked, if it does: the memory test covered a smaller share of the device's
/// memory, the device's memory could not be read, or no memory test finished. Said with
/// the cause the coverage records (the allocation refused, memory held by others).
pub fn shortfall(required: Option<f64>, coverage: Option<&MemoryCoverage>) -> Option<String> {
    let need = required?;
    let pct = |f: f64| format!("{:.1} %", f * 100.0);
    let Some(c) = coverage else {
        return Some(format!(
            "--require-coverage {}: no memory test finished, so no share of the device's memory is vouched for",
            pct(need)
        ));
    };
    let Some(got) = c.fraction else {
        return Some(format!(
            "--require-coverage {}: the device's memory could not be read, so the share covered is unknown ({} tested)",
            pct(need),
            crate::text::size_text(c.tested_bytes)
        ));
    };
    if c.passes_verified < c.passes || c.passes == 0 {
        return Some(format!(
            "--require-coverage {}: {} of {} passes verified",
            pct(need),
            c.passes_verified,
            c.passes
        ));
    }
    if got + 1e-12 >= need {
        return None;
    }
    let mut why: Vec<String> = Vec::new();
    why.extend(c.allocation_stopped.clone());
    why.extend(c.notes.iter().filter(|n| n.starts_with("capped")).cloned());
    if why.is_empty() {
        why.push(format!("the target was {}", c.target));
    }
    Some(format!(
        "covered {} of {} ({} required): {}",
        pct(got),
        crate::text::size_text(c.device_bytes.unwrap_or(0)),
        pct(need),
        why.join("; ")
    ))
}

/// A preflight that ran out of its budget is inconclusive (exit 3): it proved nothing
/// of what it did not reach, so it is no pass, and the card is not known to be bad
/// either. A wrong result found before keeps its verdict.
pub fn over_budget(j: Judgement) -> Judgement {
    if j.verdict == Verdict::Error {
        Judgement {
            verdict: Verdict::Inconclusive,
            exit_code: exit::ENVIRONMENT,
            ..j
        }
    } else {
        j
    }
}

/// What the operator does next, from the verdict and its evidence: the one table of
/// actions (docs/guide.md, "When the canary fails", holds the same table).
///
/// | evidence | action |
/// |---|---|
/// | a pass, nothing grew | `none` |
/// | uncorrectable ECC grew, or a preflight's ecc, amd-ras or row-remap failure step | `service_required` |
/// | fatal or non-fatal PCIe AER grew, or a preflight's aer step | `reboot_host` |
/// | a wrong result, or correctable AER grew | `drain_and_inspect` |
/// | a drift while the card throttled | `check_cooling_power` |
/// | a drift with no throttle | `drain_and_inspect` |
/// | device lost, a hang (timeout), pending remaps or retired pages | `reset_gpu` |
/// | no adapter, a software adapter, another vendor or driver, a feature missing, a GPU missing | `fix_lane_config` |
/// | a device the driver would not create, a shader the driver would not build | `reboot_host` |
/// | inconclusive (a budget, too little memory free), out of memory, lost artifacts, a panic | `rerun` |
/// | cancelled | `rerun` |
///
/// `reproduce` sharpens a wrong result's: permanent → `service_required`, intermittent
/// → `drain_and_inspect`, not reproduced → `rerun`.
pub fn diagnose(r: &RunReport) -> Diagnosis {
    let card = r
        .hygiene
        .as_ref()
        .and_then(|h| h.identity.as_ref())
        .and_then(|i| i.line())
        .or_else(|| {
            r.adapter
                .as_ref()
                .and_then(|a| a.pci_bus_id.as_ref())
                .map(|b| format!("PCI {b}"))
        });
    let (action, reason) = action_of(r);
    Diagnosis {
        action,
        reason,
        card,
    }
}

// Long (about 110 lines): one table, a row per cause in the order they take precedence;
// apart, the order would be lost.
fn action_of(r: &RunReport) -> (Action, String) {
    let grown = r.errors.as_ref().map(|e| e.grown()).unwrap_or_default();
    let grew = |names: &[&str]| {
        grown
            .iter()
            .filter(|(n, _)| {
                names
                    .iter()
                    .any(|w| n.trim_start_matches("upstream ") == *w)
            })
            .map(|(n, by)| format!("{n} grew by {by}"))
            .collect::<Vec<_>>()
    };
    let ecc = grew(&["ecc_uncorrected"]);
    if !ecc.is_empty() {
        return (
            Action::ServiceRequired,
            format!("{} during the run: the card's memory fails", ecc.join(", ")),
        );
    }
    let bus = grew(&["aer_dev_fatal", "aer_dev_nonfatal"]);
    if !bus.is_empty() {
        return (
            Action::RebootHost,
            format!(
                "{} during the run: the PCIe link failed; reboot, reseat if it recurs",
                bus.join(", ")
            ),
        );
    }
    let failed_step = r
        .preflight
        .as_ref()
        .and_then(|p| p.steps.iter().find(|s| s.status == StepStatus::Fail));
    if let Some(st) = failed_step.filter(|s| !s.name.contains('/') && s.name != "budget") {
        let a = match st.name.as_str() {
            "ecc" | "amd-ras" => Action::ServiceRequired,
            "row-remap" if st.detail.contains("failed") => Action::ServiceRequired,
            "row-remap" | "retired-pages" => Action::ResetGpu,
            "aer" => Action::RebootHost,
            "pcie-link" => Action::DrainAndInspect,
            _ => Action::FixLaneConfig,
        };
        return (a, format!("preflight {}: {}", st.name, st.detail));
    }
    let cor = grew(&["aer_dev_correctable"]);
    match r.verdict {
        Verdict::Pass if !cor.is_empty() => (
            Action::DrainAndInspect,
            format!("every result verified, but {} during the run: a marginal link", cor.join(", ")),
        ),
        Verdict::Pass => (Action::None, "every result verified".into()),
        Verdict::Fail => {
            let first = r
                .kernels
                .iter()
                .find(|k| k.status == KernelStatus::Fail)
                .map(|k| format!("{}/{}", k.id, k.shape))
                .unwrap_or_else(|| "a burn".into());
            (
                Action::DrainAndInspect,
                format!("a wrong result ({first}): drain the card; `gpu-canary reproduce` tells a permanent fault (send it back) from a passing one"),
            )
        }
        Verdict::Drift => {
            let throttled = r
                .burn
                .as_ref()
                .and_then(|b| b.drift.as_ref())
                .is_some_and(|d| d.throttled);
            if throttled {
                (
                    Action::CheckCoolingPower,
                    "throughput drifted while the card throttled: its cooling or power".into(),
                )
            } else {
                (
                    Action::DrainAndInspect,
                    "throughput drifted with no throttle recorded: the host (CPU frequency, PCIe link, other tenants)".into(),
                )
            }
        }
        Verdict::Inconclusive => (
            Action::Rerun,
            "inconclusive: every result verified, but the run proved less than required; rerun on an idle card".into(),
        ),
        Verdict::Cancelled => (Action::Rerun, "cancelled before it finished".into()),
        Verdict::Error | Verdict::Running => {
            let reason = r.stopped.as_ref().map(|s| s.reason.as_str()).unwrap_or("");
            let msg = r.stopped.as_ref().map(|s| s.message.clone()).unwrap_or_else(|| {
                if r.artifact_errors.is_empty() {
                    "the run did not finish".into()
                } else {
                    format!("artifacts not written: {}", r.artifact_errors.join("; "))
                }
            });
            let a = match reason {
                "no-adapter" | "software-adapter" | "unexpected-adapter" | "missing-feature" => {
                    Action::FixLaneConfig
                }
                "device-lost" | "timeout" => Action::ResetGpu,
                "device-request" | "validation" => Action::RebootHost,
                "card-state" => Action::DrainAndInspect,
                _ => Action::Rerun,
            };
            (a, msg)
        }
    }
}

/// The action's name as result.json and the metrics spell it.
pub fn action_name(a: Action) -> String {
    a.name().to_owned()
}

/// A card of an `--adapter all` run whose process could not start or left no result.
pub fn card_lost() -> (Verdict, i32) {
    (Verdict::Error, exit::ENVIRONMENT)
}

/// How bad a card's exit code is: a signal, a wrong result, the environment (or an
/// inconclusive run), a drift, a pass.
fn severity(code: i32) -> u8 {
    match code {
        exit::SIGINT | exit::SIGTERM => 5,
        exit::WRONG_RESULT => 4,
        exit::OK => 0,
        exit::DRIFT => 2,
        _ => 3,
    }
}

/// The combined verdict of an `--adapter all` run: the worst card's (`cards` holds each
/// card's verdict and exit code); a signal that reached the run wins, no card at all is
/// the environment's failure, and a pass whose combined artifacts were lost is exit 3.
pub fn combined(cards: &[(Verdict, i32)], signal: i32, artifacts_lost: bool) -> (Verdict, i32) {
    let (v, code) = if signal != 0 {
        (Verdict::Cancelled, 128 + signal)
    } else {
        match cards.iter().max_by_key(|(_, c)| severity(*c)) {
            Some(&w) => w,
            None => (Verdict::Error, exit::ENVIRONMENT),
        }
    };
    if artifacts_lost && v == Verdict::Pass {
        (Verdict::Error, exit::ENVIRONMENT)
    } else {
        (v, code)
    }
}

/// A pass that covered less of the card than required is inconclusive (exit 3): every
/// result verified, but it vouches for less than it was asked to. A wrong result, an
/// environment failure or a drift keep their verdicts.
pub fn with_coverage(j: Judgement, shortfall: Option<&str>) -> Judgement {
    if shortfall.is_some() && j.verdict == Verdict::Pass {
        Judgement {
            verdict: Verdict::Inconclusive,
            exit_code: exit::ENVIRONMENT,
            ..j
        }
    } else {
        j
    }
}

/// The exit code once the artifacts were written, or not: a pass whose artifacts are
/// missing is not one CI can act on, so it becomes an environment failure; any other
/// verdict keeps its code.
pub fn after_artifacts(exit_code: i32, written: bool) -> i32 {
    if written || exit_code != exit::OK {
        exit_code
    } else {
        exit::ENVIRONMENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel(status: KernelStatus) -> KernelResult {
        KernelResult::new("k", "1".into(), 0, status)
    }

    fn at() -> Place {
        Place {
            kernel: Some("k/1".into()),
            phase: "wait".into(),
        }
    }

    use KernelStatus::{Fail, Pass, Skipped};

    #[test]
    fn a_finished_run_passes_fails_or_ran_nothing() {
        let j = judge(Ending::Finished, &[kernel(Pass), kernel(Skipped)], &at());
        assert_eq!(
            (j.verdict, j.exit_code, j.complete),
            (Verdict::Pass, 0, true)
        );
        assert!(j.stopped.is_none());
        let j = judge(Ending::Finished, &[kernel(Pass), kernel(Fail)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Fail, 1));
        let j = judge(Ending::Finished, &[kernel(Skipped)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Error, 3));
        assert_eq!(j.stopped.unwrap().reason, "nothing-ran");
    }

    #[test]
    fn a_wrong_result_outranks_what_came_after_it() {
        let lost = || Ending::Failed(Error::env(EnvKind::DeviceLost, "device lost"));
        let j = judge(lost(), &[kernel(Fail)], &at());
        assert_eq!(
            (j.verdict, j.exit_code, j.complete),
            (Verdict::Fail, 1, false)
        );
        assert_eq!(j.stopped.unwrap().reason, "device-lost");
        let j = judge(lost(), &[kernel(Pass)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Error, 3));
        let late = Ending::TimedOut { timeout_s: 8.0 };
        let j = judge(late, &[kernel(Fail)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Fail, 1));
        let j = judge(Ending::Panicked("boom".into()), &[kernel(Fail)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Fail, 1));
    }

    #[test]
    fn each_ending_has_its_code_and_stop_record() {
        let usage = Ending::Failed(Error::usage("--size too big"));
        let j = judge(usage, &[], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Error, 2));
        assert_eq!(j.stopped.unwrap().reason, "usage");
        let j = judge(Ending::TimedOut { timeout_s: 8.0 }, &[kernel(Pass)], &at());
        assert_eq!((j.verdict, j.exit_code), (Verdict::Error, 3));
        let s = j.stopped.unwrap();
        assert_eq!(
            (s.reason.as_str(), s.phase.as_deref()),
            ("timeout", Some("wait"))
        );
        assert!(
            s.message
                .contains("--timeout 8 s expired in k/1 during wait")
        );
        let j = judge(Ending::Panicked("boom".into()), &[], &at());
        assert_eq!(
            (j.exit_code, j.stopped.unwrap().reason.as_str()),
            (3, "panic")
        );
        let int = judge(
            Ending::Signal(signal_hook::consts::SIGINT),
            &[kernel(Fail)],
            &at(),
        );
        assert_eq!((int.verdict, int.exit_code), (Verdict::Cancelled, 130));
        let term = judge(Ending::Signal(signal_hook::consts::SIGTERM), &[], &at());
        assert_eq!((term.exit_code, term.complete), (143, false));
    }

    #[test]
    fn a_pass_that_covered_less_than_required_is_inconclusive() {
        let c = MemoryCoverage {
            device_bytes: Some(141_000_000_000),
            tested_bytes: 86_000_000_000,
            fraction: Some(0.61),
            passes: 4,
            passes_verified: 4,
            target: "90%".into(),
            notes: vec!["capped at what was free (88.0 GB of 141.0 GB free by vulkan, less 268.4 MB for the run); 52.0 GB held by other processes (pid 4242 (52.0 GB))".into()],
            ..MemoryCoverage::default()
        };
        let why = shortfall(Some(0.9), Some(&c)).unwrap();
        assert!(
            why.starts_with("covered 61.0 % of 141.0 GB (90.0 % required)"),
            "{why}"
        );
        assert!(why.contains("pid 4242"), "{why}");
        assert_eq!(shortfall(Some(0.6), Some(&c)), None);
        assert_eq!(shortfall(None, Some(&c)), None);
        assert!(
            shortfall(Some(0.5), None)
                .unwrap()
                .contains("no memory test")
        );
        let unknown = MemoryCoverage {
            fraction: None,
            ..c.clone()
        };
        assert!(
            shortfall(Some(0.5), Some(&unknown))
                .unwrap()
                .contains("could not be read")
        );
        let pass = judge(Ending::Finished, &[kernel(Pass)], &at());
        let j = with_coverage(pass.clone(), Some("short"));
        assert_eq!((j.verdict, j.exit_code), (Verdict::Inconclusive, 3));
        assert_eq!(with_coverage(pass, None).exit_code, 0);
        let fail = judge(Ending::Finished, &[kernel(Fail)], &at());
        assert_eq!(with_coverage(fail, Some("short")).exit_code, 1);
    }

    #[test]
    fn a_pass_without_its_artifacts_is_an_environment_failure() {
        assert_eq!(after_artifacts(0, true), 0);
        assert_eq!(after_artifacts(0, false), 3);
        assert_eq!(after_artifacts(1, false), 1, "a wrong result stays wrong");
    }

    #[test]
    fn a_burn_drifts_only_when_no_throttle_explains_it() {
        use crate::model::Drift;
        let pass = judge(
            Ending::Finished,
            &[kernel(KernelStatus::Pass)],
            &Place::default(),
        );
        let burn = |exceeded, throttled, fail_on_throttle| BurnReport {
            drift: Some(Drift {
                window_s: 60.0,
                first: 100.0,
                last: 80.0,
                change_pct: -20.0,
                exceeded,
                throttled,
                throttle_reasons: Vec::new(),
                inconclusive: None,
            }),
            fail_on_throttle,
            ..BurnReport::default()
        };
        let code = |b: &BurnReport| with_burn(pass.clone(), Some(b)).exit_code;
        assert_eq!(code(&burn(true, false, false)), exit::DRIFT);
        // On a software adapter a drop follows the host's load: reported, never exit 5.
        let mut soft = burn(true, false, false);
        soft.drift.as_mut().unwrap().inconclusive = Some("a software adapter".into());
        assert_eq!(code(&soft), exit::OK);
        assert_eq!(code(&burn(true, true, false)), exit::OK);
        assert_eq!(code(&burn(true, true, true)), exit::DRIFT);
        assert_eq!(code(&burn(false, false, false)), exit::OK);
        // Fewer dispatches verified than run: a wrong result, never a pass.
        let mut short = burn(false, false, false);
        short.dispatches = 4;
        short.dispatches_verified = 3;
        assert_eq!(code(&short), exit::WRONG_RESULT);
        assert_eq!(with_burn(pass.clone(), None).exit_code, exit::OK);
        // A wrong result outranks a drift.
        let fail = judge(
            Ending::Finished,
            &[kernel(KernelStatus::Fail)],
            &Place::default(),
        );
        assert_eq!(
            with_burn(fail, Some(&burn(true, false, false))).exit_code,
            exit::WRONG_RESULT
        );
    }

    #[test]
    fn the_worst_card_decides_a_combined_run() {
        use Verdict::*;
        let cards = [(Pass, 0), (Error, 3), (Fail, 1), (Drift, 5)];
        assert_eq!(combined(&cards, 0, false), (Fail, 1));
        assert_eq!(combined(&cards[..2], 0, false), (Error, 3));
        assert_eq!(combined(&[(Pass, 0), (Drift, 5)], 0, false), (Drift, 5));
        assert_eq!(combined(&[(Pass, 0)], 0, false), (Pass, 0));
        assert_eq!(combined(&[(Pass, 0)], 0, true), (Error, 3));
        assert_eq!(combined(&cards, 15, false), (Cancelled, 143));
        assert_eq!(combined(&[], 0, false), (Error, 3));
    }
}
