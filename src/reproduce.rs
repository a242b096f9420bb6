//! `gpu-canary reproduce RESULT.json`: each failed case of a result run again on the
//! same card, N times, with the recorded seeds, shape, samples, input scale, runtime
//! checks, tuning and planted fault, each rerun a `gpu-canary run` of its own (its own
//! result, trace and watchdog, under `--out DIR/<case>/run-<i>/`). Each case comes out
//! `permanent` (wrong every time, at the same place), `intermittent` (wrong some times,
//! or elsewhere) or `not_reproduced`, and the action follows: `service_required`,
//! `drain_and_inspect`, `rerun`. `DIR/reproduce.json` holds it all, linked to the
//! original.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Action, Diagnosis, KernelResult, KernelStatus, RunReport};

/// What `reproduce` was asked to do, checked (`config`).
#[derive(Debug, Clone)]
pub struct ReproduceConfig {
    pub result: PathBuf,
    pub times: u32,
    pub out: PathBuf,
}

/// `reproduce.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reproduction {
    pub tool: String,
    pub version: String,
    /// The result reproduced, as given, and when it ran.
    pub original: String,
    pub original_started_at: String,
    /// The card both ran on (PCI address, UUID, serial, where recorded).
    pub card: Option<String>,
    pub times: u32,
    pub cases: Vec<CaseReproduction>,
    /// The original's action, sharpened by what the reruns showed.
    pub diagnosis: Diagnosis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseReproduction {
    /// `kernel/shape`.
    pub case: String,
    /// Where the original was wrong (the first wrong word's place).
    pub place: String,
    /// `permanent`, `intermittent` or `not_reproduced`.
    pub class: String,
    pub runs: Vec<Rerun>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rerun {
    /// Its own result, relative to reproduce.json.
    pub result: String,
    pub exit_code: i32,
    pub wrong: bool,
    /// Where it was wrong, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
}

/// Where a failed case was wrong, comparable between runs: the memory test's listed
/// words, the first mismatch's index, or the first wrong dispatch's place.
pub fn place(k: &KernelResult) -> Option<String> {
    if k.status != KernelStatus::Fail {
        return None;
    }
    if let Some(f) = &k.fingerprint {
        let words: Vec<String> = f.words.iter().map(|w| w.word.to_string()).collect();
        return Some(format!("{}: words {}", f.buffer, words.join(",")));
    }
    // The first wrong word of the result, whichever check found it: the CPU check's
    // element and the GPU check's word count alike over the outputs in order.
    if let Some(m) = k
        .verification
        .as_ref()
        .and_then(|v| v.first_mismatch.as_ref())
    {
        return Some(format!("word {}", m.index));
    }
    if let Some(w) = k.dispatch_check.as_ref().and_then(|d| d.wrong.first()) {
        return Some(format!("word {}", w.word));
    }
    Some(k.reason.clone().unwrap_or_else(|| "wrong".into()))
}

/// The class of a case from its original place and its reruns' places.
pub fn classify(original: &str, reruns: &[Option<String>]) -> (&'static str, Action) {
    let wrong = reruns.iter().filter(|p| p.is_some()).count();
    let same = reruns.iter().all(|p| p.as_deref() == Some(original));
    match wrong {
        0 => ("not_reproduced", Action::Rerun),
        _ if same => ("permanent", Action::ServiceRequired),
        _ => ("intermittent", Action::DrainAndInspect),
    }
}

/// The card a result names, to check a rerun against: PCI address, UUID, serial.
fn card_of(r: &RunReport) -> Card {
    let id = r.hygiene.as_ref().and_then(|h| h.identity.as_ref());
    (
        r.adapter
            .as_ref()
            .and_then(|a| a.pci_bus_id.clone())
            .or_else(|| id.and_then(|i| i.pci_bus_id.clone())),
        id.and_then(|i| i.uuid.clone()),
        id.and_then(|i| i.serial.clone()),
    )
}

type Card = (Option<String>, Option<String>, Option<String>);

/// Whether two cards' names agree wherever both are known; the first that differs.
fn same_card(want: &Card, got: &Card) -> std::result::Result<(), String> {
    for (what, w, g) in [
        ("PCI address", &want.0, &got.0),
        ("UUID", &want.1, &got.1),
        ("serial", &want.2, &got.2),
    ] {
        if let (Some(w), Some(g)) = (w, g)
            && w != g
        {
            return Err(format!("{what} {g}, the result's is {w}"));
        }
    }
    Ok(())
}

/// The rerun's command line for case `k` of `r`.
fn rerun_command(r: &RunReport, k: &KernelResult, out: &Path) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| "gpu-canary".into());
    let mut c = Command::new(exe);
    c.args(["run", "--kernel", &k.id]);
    if k.id == "memtest" {
        c.args(["--memory", &k.shape]);
    } else {
        c.args(["--size", &k.shape]);
    }
    let cfg = &r.config;
    c.args(["--seed", &k.seed.to_string()]);
    if let Some(s) = cfg.check_seed {
        c.args(["--check-seed", &s.to_string()]);
    }
    c.args(["--warmup", &cfg.warmup.to_string()]);
    c.args(["--iterations", &cfg.iterations.max(1).to_string()]);
    c.args(["--input-scale", &cfg.input_scale.to_string()]);
    if cfg.runtime_checks == "unchecked" {
        c.arg("--unchecked");
    }
    // A tuning file that was applied, if it is still there.
    if let Some((path, note)) = cfg.tuning.as_deref().and_then(|t| t.rsplit_once(": "))
        && note == "applied"
        && Path::new(path).exists()
    {
        c.args(["--tuning", path]);
    }
    if let Some(a) = &r.adapter {
        c.args(["--backend", &a.backend]);
        c.args(["--adapter", a.pci_bus_id.as_deref().unwrap_or(&a.name)]);
    }
    c.arg("--out").arg(out).arg("--force");
    c.env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("WGPU_ADAPTER_NAME")
        .env_remove("WGPU_BACKEND")
        .env_remove("GPU_CANARY_INJECT_FAULT")
        .env_remove("GPU_CANARY_FAULT_DISPATCH");
    c
}

/// The recorded planted fault (tests only) as the rerun's environment: its name and
/// the dispatches it hits, the first of `every:K+P` moved on by `i` (a fault whose
/// first dispatch varies).
fn replay_fault(c: &mut Command, recorded: Option<&str>, i: u32) {
    let Some(f) = recorded else { return };
    let (name, at) = match f.split_once(" at dispatch ") {
        Some((n, d)) => (n, Some(d)),
        None => (f, None),
    };
    c.env("GPU_CANARY_INJECT_FAULT", name);
    if let Some(at) = at {
        let at = match crate::runner::FaultDispatches::parse(at) {
            Ok(crate::runner::FaultDispatches::EveryFrom(k, p)) => {
                format!("every:{k}+{}", p + u64::from(i))
            }
            _ => at.to_owned(),
        };
        c.env("GPU_CANARY_FAULT_DISPATCH", at);
    }
}

pub fn run(cfg: &ReproduceConfig) -> Result<Reproduction> {
    let original = crate::model::read_report(&cfg.result).map_err(Error::Usage)?;
    if let Some(why) = crate::model::combined_refusal(&cfg.result, &original, "reproduce") {
        return Err(Error::usage(why));
    }
    let failed: Vec<&KernelResult> = original
        .kernels
        .iter()
        .filter(|k| k.status == KernelStatus::Fail)
        .collect();
    if failed.is_empty() {
        return Err(Error::usage(format!(
            "{}: no case failed (verdict {}); reproduce takes a result with a wrong result",
            cfg.result.display(),
            crate::export::metrics::name_of(&original.verdict)
        )));
    }
    std::fs::create_dir_all(&cfg.out).map_err(|e| {
        Error::usage(format!(
            "--out {}: cannot create the directory ({e}); pass a writable path",
            cfg.out.display()
        ))
    })?;
    let cases = failed
        .into_iter()
        .map(|k| reproduce_case(cfg, &original, k))
        .collect::<Result<Vec<_>>>()?;
    let card = original
        .diagnosis
        .as_ref()
        .and_then(|d| d.card.clone())
        .or_else(|| crate::check::verdict::diagnose(&original).card);
    let (action, reason) = judged(&cases);
    let rep = Reproduction {
        tool: crate::model::TOOL_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        original: cfg.result.display().to_string(),
        original_started_at: original.started_at.clone(),
        card: card.clone(),
        times: cfg.times,
        cases,
        diagnosis: Diagnosis {
            action,
            reason,
            card,
        },
    };
    let json = serde_json::to_string_pretty(&rep).expect("reproduce.json serialises") + "\n";
    let path = cfg.out.join("reproduce.json");
    crate::export::write_atomic(&path, json.as_bytes())
        .map_err(|e| Error::io(format!("cannot write {}: {e}", path.display())))?;
    crate::console::line(&crate::export::lines::action_line(&rep.diagnosis));
    crate::console::line(&format!("wrote {}", path.display()));
    Ok(rep)
}

/// One failed case rerun `cfg.times` times, each in a directory of its own, and
/// classed by where the reruns were wrong.
fn reproduce_case(
    cfg: &ReproduceConfig,
    original: &RunReport,
    k: &KernelResult,
) -> Result<CaseReproduction> {
    let key = format!("{}/{}", k.id, k.shape);
    let first = place(k).unwrap_or_default();
    let dir_name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut runs = Vec::new();
    let mut places = Vec::new();
    for i in 1..=cfg.times {
        let rerun = rerun_once(cfg, original, k, &format!("{dir_name}/run-{i}"), i)?;
        places.push(rerun.place.clone());
        runs.push(rerun);
    }
    let (class, _) = classify(&first, &places);
    crate::console::line(&format!(
        "reproduce {key}: {class} ({} of {} reruns wrong{})",
        places.iter().filter(|p| p.is_some()).count(),
        cfg.times,
        if class == "intermittent"
            && places
                .iter()
                .any(|p| p.as_deref().is_some_and(|p| p != first))
        {
            ", at other places"
        } else {
            ""
        }
    ));
    Ok(CaseReproduction {
        case: key,
        place: first,
        class: class.to_owned(),
        runs,
    })
}

/// Rerun `i` of case `k` in `cfg.out/rel`, its console beside its result; refused
/// where it ran on another card or did not run the case.
fn rerun_once(
    cfg: &ReproduceConfig,
    original: &RunReport,
    k: &KernelResult,
    rel: &str,
    i: u32,
) -> Result<Rerun> {
    let key = format!("{}/{}", k.id, k.shape);
    let out = cfg.out.join(rel);
    crate::console::line(&format!("reproduce {key}: run {i} of {}", cfg.times));
    let mut c = rerun_command(original, k, &out);
    replay_fault(&mut c, original.config.fault.as_deref(), i);
    // Its console beside its result.
    std::fs::create_dir_all(&out)
        .map_err(|e| Error::io(format!("cannot create {}: {e}", out.display())))?;
    let log = std::fs::File::create(out.join("console.log"))
        .map_err(|e| Error::io(format!("cannot write in {}: {e}", out.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| Error::io(format!("cannot write in {}: {e}", out.display())))?;
    let status = c
        .stdout(log)
        .stderr(log2)
        .status()
        .map_err(|e| Error::io(format!("cannot start a rerun: {e}")))?;
    let code = status.code().unwrap_or(-1);
    let rerun = crate::model::read_report(&out.join("result.json"))
        .map_err(|e| Error::io(format!("rerun {i} of {key} left no result: {e}")))?;
    // The same card, or nothing said of this one.
    if let Err(other) = same_card(&card_of(original), &card_of(&rerun)) {
        return Err(Error::usage(format!(
            "the rerun ran on another card ({other}); run reproduce on the host and card of {}",
            cfg.result.display()
        )));
    }
    // Without a PCI address, the adapter's name and backend tell the card.
    if let (Some(a), Some(b)) = (&original.adapter, &rerun.adapter)
        && (a.name != b.name || a.backend != b.backend)
    {
        return Err(Error::usage(format!(
            "the rerun ran on another card ({} on {}, the result's is {} on {}); run reproduce on the host and card of {}",
            b.name,
            b.backend,
            a.name,
            a.backend,
            cfg.result.display()
        )));
    }
    // A rerun that did not run the case proves nothing either way.
    let ran = rerun
        .kernels
        .iter()
        .find(|r| r.id == k.id && r.shape == k.shape)
        .filter(|r| matches!(r.status, KernelStatus::Pass | KernelStatus::Fail));
    let Some(ran) = ran else {
        return Err(Error::env(
            crate::error::EnvKind::Io,
            format!(
                "rerun {i} of {key} did not run the case (exit {code}{}); see {}",
                rerun
                    .stopped
                    .as_ref()
                    .map(|s| format!(": {}", s.message))
                    .unwrap_or_default(),
                out.join("console.log").display()
            ),
        ));
    };
    let p = place(ran);
    Ok(Rerun {
        result: format!("{rel}/result.json"),
        exit_code: code,
        wrong: p.is_some(),
        place: p,
    })
}

/// The action the worst class calls for (permanent, then intermittent, then not
/// reproduced), and why.
fn judged(cases: &[CaseReproduction]) -> (Action, String) {
    let rank = |c: &str| match c {
        "permanent" => 2,
        "intermittent" => 1,
        _ => 0,
    };
    let worst = cases
        .iter()
        .max_by_key(|c| rank(&c.class))
        .expect("at least one failed case");
    match worst.class.as_str() {
        "permanent" => (
            Action::ServiceRequired,
            format!(
                "{} is wrong on every rerun at the same place ({}): the card goes back",
                worst.case, worst.place
            ),
        ),
        "intermittent" => (
            Action::DrainAndInspect,
            format!(
                "{} is wrong on some reruns or at other places: a marginal card (heat, power, a retrain); keep it drained and burn it",
                worst.case
            ),
        ),
        _ => (
            Action::Rerun,
            format!(
                "no rerun of {} was wrong: a one-off; rerun the canary, and watch the card",
                worst.case
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_card_in_the_same_slot_is_another_card() {
        let card = |p: &str, u: Option<&str>| (Some(p.to_owned()), u.map(str::to_owned), None);
        assert!(
            same_card(
                &card("0000:3b:00.0", Some("GPU-a")),
                &card("0000:3b:00.0", Some("GPU-a"))
            )
            .is_ok()
        );
        let e = same_card(
            &card("0000:3b:00.0", Some("GPU-a")),
            &card("0000:3b:00.0", Some("GPU-b")),
        )
        .unwrap_err();
        assert!(e.contains("UUID GPU-b, the result's is GPU-a"), "{e}");
        assert!(same_card(&card("0000:3b:00.0", None), &card("0000:5e:00.0", None)).is_err());
        // What one of them does not name is not compared.
        assert!(same_card(&(None, None, None), &card("0000:5e:00.0", Some("GPU-b"))).is_ok());
    }

    #[test]
    fn the_class_follows_how_often_and_where() {
        let at = |p: &str| Some(p.to_owned());
        assert_eq!(classify("e 5", &[at("e 5"), at("e 5")]).0, "permanent");
        assert_eq!(classify("e 5", &[at("e 5"), None]).0, "intermittent");
        assert_eq!(classify("e 5", &[at("e 9"), at("e 9")]).0, "intermittent");
        assert_eq!(classify("e 5", &[None, None]).0, "not_reproduced");
        assert_eq!(classify("e 5", &[at("e 5")]).1, Action::ServiceRequired);
    }
}
