//! JUnit XML (what GitLab's merge-request widget, Jenkins and test-reporter actions
//! read), serialised by `quick-junit`: one test case per kernel and shape, a failure
//! with the first wrong element and its bound (or the dispatch that differed), skipped
//! with the reason, an error for a case the environment stopped; the adapter, driver,
//! card and verdict as properties; times in seconds. A stopped run gets a case of its
//! own for where it stopped, so a report that lacks kernels never reads as a pass.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::Exporter;
use crate::model::{KernelStatus, RunReport, Verdict};

pub struct Junit;

impl Exporter for Junit {
    fn render(&self, r: &RunReport) -> Vec<u8> {
        xml(vec![suite(r, None)])
    }
}

/// The cards of an `--adapter all` run: one suite per card.
pub fn render_cards(cards: &[(&str, &RunReport)]) -> Vec<u8> {
    xml(cards.iter().map(|(c, r)| suite(r, Some(c))).collect())
}

fn xml(suites: Vec<TestSuite>) -> Vec<u8> {
    let mut report = Report::new("gpu-canary");
    for s in suites {
        report.add_test_suite(s);
    }
    let xml = report.to_string().expect("a JUnit report serialises");
    without_root_skipped(&xml).into_bytes()
}

/// One run's suite: a case per kernel and shape, per preflight step, and for a stop, a
/// burn, the coverage and a verdict that is no pass.
fn suite(r: &RunReport, card: Option<&str>) -> TestSuite {
    let mut suite = new_suite(r, card);
    for k in &r.kernels {
        suite.add_test_case(kernel_case(r, k));
    }
    // The preflight's card and state steps (its kernel steps are the cases above).
    for st in r
        .preflight
        .iter()
        .flat_map(|p| &p.steps)
        .filter(|st| !st.name.contains('/'))
    {
        suite.add_test_case(step_case(r, st));
    }
    if let Some(stop) = &r.stopped {
        suite.add_test_case(stop_case(r, stop));
    }
    if let Some(b) = &r.burn {
        suite.add_test_case(burn_case(r, b));
    }
    if let Some(c) = &r.coverage {
        suite.add_test_case(coverage_case(r, c));
    }
    // A verdict that is not a pass always has a case that says so: lost artifacts
    // (exit 3) fail no kernel, yet the run is no pass CI may take as one.
    if r.verdict != Verdict::Pass && suite.failures + suite.errors == 0 {
        suite.add_test_case(verdict_case(r));
    }
    suite
}

/// The suite's name and properties: the command, the card, the verdict and action.
fn new_suite(r: &RunReport, card: Option<&str>) -> TestSuite {
    let name = match (&r.burn, &r.preflight) {
        (Some(b), _) => format!("gpu-canary burn {}", b.kernel),
        (None, Some(_)) => "gpu-canary preflight".to_owned(),
        (None, None) => format!("gpu-canary run ({} suite)", r.config.suite),
    };
    let name = match card {
        Some(c) => format!("{name} on {c}"),
        None => name,
    };
    let mut suite = TestSuite::new(name);
    suite.set_time(Duration::from_secs_f64(r.duration_s.max(0.0)));
    let mut props = vec![
        (
            "action",
            r.diagnosis
                .as_ref()
                .map(|d| crate::check::verdict::action_name(d.action))
                .unwrap_or_default(),
        ),
        ("started_at", r.started_at.clone()),
        ("verdict", super::metrics::name_of(&r.verdict)),
        ("exit_code", r.exit_code.to_string()),
        ("tool_version", r.tool.version.clone()),
    ];
    if let Some(a) = &r.adapter {
        props.push(("adapter", a.name.clone()));
        props.push(("backend", a.backend.clone()));
        props.push(("device_type", a.device_type.clone()));
        props.push((
            "driver",
            format!("{} {}", a.driver, a.driver_info).trim().to_owned(),
        ));
        if let Some(p) = &a.pci_bus_id {
            props.push(("pci_bus_id", p.clone()));
        }
    }
    if let Some(id) = r.hygiene.as_ref().and_then(|h| h.identity.as_ref())
        && let Some(card) = super::lines::identity_line(id)
    {
        props.push(("card", card));
    }
    for (k, v) in props {
        suite.add_property(Property::new(k, v));
    }
    suite
}

/// A kernel and shape: its status (a wrong result's first element or dispatch), and
/// its timing and checks as the case's output.
fn kernel_case(r: &RunReport, k: &crate::model::KernelResult) -> TestCase {
    let status =
        match k.status {
            KernelStatus::Pass => TestCaseStatus::success(),
            KernelStatus::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(k.reason.clone().unwrap_or_default());
                s
            }
            KernelStatus::Fail | KernelStatus::Error => {
                let kind = if k.status == KernelStatus::Fail {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                s.set_message(with_action(
                    r,
                    k.reason.clone().unwrap_or_else(|| "wrong result".into()),
                ));
                if let Some(m) = k
                    .verification
                    .as_ref()
                    .and_then(|v| v.first_mismatch.as_ref())
                {
                    s.set_type(match k.status {
                        KernelStatus::Fail => "wrong result",
                        _ => "environment",
                    });
                    s.set_description(format!(
                    "first wrong element: index {}{}: expected {}, got {}, error {:e}, bound {:e}",
                    m.index,
                    match (m.row, m.col) {
                        (Some(r), Some(c)) => format!(" (row {r}, col {c})"),
                        _ => m.location.as_ref().map(|l| format!(" ({l})")).unwrap_or_default(),
                    },
                    m.expected,
                    m.actual,
                    m.error,
                    m.bound
                ));
                } else if let Some(w) = k.dispatch_check.as_ref().and_then(|d| d.wrong.first()) {
                    s.set_type("wrong dispatch");
                    s.set_description(format!(
                        "{}: {}: expected {}, got {}",
                        w.name, w.place, w.expected, w.actual
                    ));
                }
                s
            }
        };
    let mut case = TestCase::new(format!("{}/{}", k.id, k.shape), status);
    case.set_classname(format!("gpu-canary.{}", k.id));
    // Details as the case's output: the schema Jenkins reads has no properties
    // on a test case.
    let mut details = Vec::new();
    if let Some(st) = &k.stats {
        // The timed samples: how long the case measured, in seconds.
        let secs: f64 = k.samples_ns.iter().map(|&n| n as f64).sum::<f64>() / 1e9;
        case.set_time(Duration::from_secs_f64(secs.max(0.0)));
        details.push(format!(
            "median {} per dispatch, fastest {}",
            super::fmt_ns(st.median_ns),
            super::fmt_ns(st.min_ns)
        ));
    }
    if let Some(t) = &k.throughput {
        details.push(format!("throughput {}", super::fmt_rate(t.median, &t.unit)));
    }
    if let Some(v) = &k.verification {
        details.push(format!("checked by {}", v.method));
        if let Some(p) = v.miss_probability {
            details.push(format!("miss probability {p:e}"));
        }
    }
    if let Some(d) = &k.dispatch_check {
        details.push(format!(
            "dispatches verified {} of {}",
            d.dispatches_verified, d.dispatches_total
        ));
    }
    if !details.is_empty() {
        case.set_system_out(details.join("\n"));
    }
    case
}

/// A preflight step of the card or its state.
fn step_case(r: &RunReport, st: &crate::model::PreflightStep) -> TestCase {
    use crate::model::StepStatus;
    let status = match st.status {
        StepStatus::Pass => TestCaseStatus::success(),
        StepStatus::Fail => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("preflight");
            s.set_message(with_action(r, st.detail.clone()));
            s
        }
        StepStatus::Skipped | StepStatus::NotRead => {
            let mut s = TestCaseStatus::skipped();
            let word = if st.status == StepStatus::NotRead {
                "not read: "
            } else {
                ""
            };
            s.set_message(format!("{word}{}", st.detail));
            s
        }
    };
    let mut case = TestCase::new(format!("preflight {}", st.name), status);
    case.set_classname("gpu-canary.preflight");
    if st.status == StepStatus::Pass {
        case.set_system_out(st.detail.clone());
    }
    case
}

/// Where and why a run stopped.
fn stop_case(r: &RunReport, stop: &crate::model::Stop) -> TestCase {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
    s.set_type(stop.reason.clone());
    s.set_message(with_action(r, stop.message.clone()));
    let mut case = TestCase::new(
        format!(
            "run stopped in {}",
            stop.kernel.as_deref().unwrap_or("setup")
        ),
        s,
    );
    case.set_classname("gpu-canary.run");
    case
}

/// A burn: its errors, its drift, or a pass.
fn burn_case(r: &RunReport, b: &crate::model::BurnReport) -> TestCase {
    let status = match (&b.drift, b.errors.is_empty()) {
        (_, false) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(with_action(r, b.errors[0].message.clone()));
            s
        }
        (Some(d), true) if r.verdict == crate::model::Verdict::Drift => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("drift");
            s.set_message(with_action(
                r,
                format!(
                    "throughput {:+.1} % over the burn{}",
                    d.change_pct,
                    super::lines::drift_note(d, &b.telemetry)
                ),
            ));
            s
        }
        _ => TestCaseStatus::success(),
    };
    let mut case = TestCase::new(format!("burn {}", b.kernel), status);
    case.set_classname("gpu-canary.burn");
    case.set_time(Duration::from_secs_f64(b.elapsed_s.max(0.0)));
    case.set_system_out(format!(
        "{} checks against the CPU reference; dispatches verified {} of {}",
        b.checks, b.dispatches_verified, b.dispatches
    ));
    case
}

/// The memory test's coverage: short of `--require-coverage`, a failure.
fn coverage_case(r: &RunReport, c: &crate::model::Coverage) -> TestCase {
    let m = &c.memory;
    let status = match &m.shortfall {
        Some(why) => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type("coverage");
            s.set_message(with_action(r, why.clone()));
            s
        }
        None => TestCaseStatus::success(),
    };
    let mut case = TestCase::new("memory coverage", status);
    case.set_classname("gpu-canary.memtest");
    case.set_system_out(format!(
        "memory {}; {} of {} passes verified",
        super::lines::coverage_line(m),
        m.passes_verified,
        m.passes
    ));
    case
}

/// The run's verdict, where no case above says it is no pass.
fn verdict_case(r: &RunReport) -> TestCase {
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
    s.set_type(super::metrics::name_of(&r.verdict));
    let why = if r.artifact_errors.is_empty() {
        String::new()
    } else {
        format!("artifacts not written: {}", r.artifact_errors.join("; "))
    };
    s.set_message(format!(
        "the run's verdict is {} (exit {}){}{}",
        super::metrics::name_of(&r.verdict),
        r.exit_code,
        if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        },
        r.diagnosis
            .as_ref()
            .map(|d| format!(
                "; action: {}: {}",
                crate::check::verdict::action_name(d.action),
                d.reason
            ))
            .unwrap_or_default()
    ));
    let mut case = TestCase::new("run verdict", s);
    case.set_classname("gpu-canary.run");
    case
}

/// A failure's message with the run's action after it: what CI shows is what to do.
fn with_action(r: &RunReport, message: String) -> String {
    match &r.diagnosis {
        Some(d) => format!(
            "{message} (action: {})",
            crate::check::verdict::action_name(d.action)
        ),
        None => message,
    }
}

/// The report without the `skipped` count on its root `testsuites` element: the schema
/// Jenkins validates against (xUnit's junit-10.xsd) has it only on `testsuite`, where
/// it stays.
fn without_root_skipped(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let tag = &xml[start..end];
    match tag.find(" skipped=\"") {
        Some(at) => {
            let close = tag[at + 10..]
                .find('"')
                .map_or(tag.len(), |c| at + 10 + c + 1);
            format!("{}{}{}", &xml[..start + at], &tag[close..], &xml[end..])
        }
        None => xml.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_loses_only_its_skipped_count() {
        let xml = "<?xml?>\n<testsuites name=\"a\" tests=\"3\" skipped=\"12\" failures=\"0\">\n<testsuite skipped=\"12\">";
        assert_eq!(
            without_root_skipped(xml),
            "<?xml?>\n<testsuites name=\"a\" tests=\"3\" failures=\"0\">\n<testsuite skipped=\"12\">"
        );
    }
}
