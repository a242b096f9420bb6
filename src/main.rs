//! Parses flags, turns them into a command's configuration, runs the command, and maps
//! its outcome or error to an exit code: the only place exit codes are chosen.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use gpu_canary::adapters::{self, AdaptersConfig};
use gpu_canary::cli::{Cli, Command};
use gpu_canary::compare::{self, CompareConfig, Finding};
use gpu_canary::error::{Result, exit};
use gpu_canary::history::{self, HistoryConfig};
use gpu_canary::kernels;
use gpu_canary::run::{self, RunConfig};
use gpu_canary::tune::{self, TuneConfig};

fn main() -> ExitCode {
    // Lavapipe floods stderr without a runtime directory; any writable one will do.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded at this point; no other thread reads the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    // A file-size limit (RLIMIT_FSIZE) kills with SIGXFSZ by default; handled, a write
    // past it fails with an error instead, which the artifacts' writers report.
    // SAFETY: the handler does nothing, so it is async-signal-safe.
    let _ = unsafe { signal_hook::low_level::register(signal_hook::consts::SIGXFSZ, || {}) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            gpu_canary::console::err(&one_line(&e.render().to_string()));
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let code = match command(cli.command) {
        Ok(code) => stdout_checked(code),
        Err(e) => {
            gpu_canary::console::err(&format!("error: {e}"));
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Every subcommand the same way: configuration, run, outcome → exit code.
fn command(c: Command) -> Result<i32> {
    Ok(match c {
        Command::Adapters(a) => match adapters::run(&AdaptersConfig::from_args(a)?)?.found {
            0 => exit::ENVIRONMENT,
            _ => exit::OK,
        },
        // The run records its own exit code in result.json (`verdict::judge`).
        Command::Run(a) => ended(gpu_canary::cards::run_any(RunConfig::from_args(a)?)),
        Command::Burn(a) => ended(gpu_canary::cards::run_any(RunConfig::from_burn_args(a)?)),
        Command::Completions(a) => {
            let mut out = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "gpu-canary", &mut out);
            gpu_canary::console::try_bytes(&out).map_err(|e| {
                gpu_canary::error::Error::io(format!("cannot write the completions to stdout: {e}"))
            })?;
            exit::OK
        }
        Command::Man(a) => {
            let mut out = Vec::new();
            let top = Cli::command();
            let page = match &a.command {
                None => top,
                Some(name) => {
                    let names: Vec<String> = top
                        .get_subcommands()
                        .map(|s| s.get_name().to_owned())
                        .collect();
                    let Some(sub) = top.find_subcommand(name).cloned() else {
                        return Err(gpu_canary::error::Error::usage(format!(
                            "no command '{name}'; use one of: {}",
                            names.join(", ")
                        )));
                    };
                    // Named as man(1) finds it: gpu-canary-run(1).
                    // clap names are 'static; one page is printed and the process ends.
                    let page_name: &'static str =
                        Box::leak(format!("gpu-canary-{name}").into_boxed_str());
                    sub.name(page_name).version(env!("GPU_CANARY_LONG_VERSION"))
                }
            };
            clap_mangen::Man::new(page).render(&mut out).map_err(|e| {
                gpu_canary::error::Error::io(format!("cannot render the man page: {e}"))
            })?;
            gpu_canary::console::try_bytes(&out).map_err(|e| {
                gpu_canary::error::Error::io(format!("cannot write the man page to stdout: {e}"))
            })?;
            exit::OK
        }
        Command::Reproduce(a) => {
            let rep =
                gpu_canary::reproduce::run(&gpu_canary::reproduce::ReproduceConfig::from_args(a)?)?;
            if rep.cases.iter().any(|c| c.class != "not_reproduced") {
                exit::WRONG_RESULT
            } else {
                exit::OK
            }
        }
        Command::Preflight(a) => ended(gpu_canary::cards::run_any(RunConfig::from_preflight_args(
            a,
        )?)),
        Command::Compare(a) => match compare::run(&CompareConfig::from_args(a)?)?.finding {
            Finding::Wrong => exit::WRONG_RESULT,
            Finding::Slower => exit::REGRESSION,
            Finding::Ok => exit::OK,
            Finding::Inconclusive => exit::INCONCLUSIVE,
        },
        Command::History(a) => {
            history::run(&HistoryConfig::from_args(a)?)?;
            exit::OK
        }
        Command::Tune(a) => match tune::run(&TuneConfig::from_args(a)?)?.wrong {
            true => exit::WRONG_RESULT,
            false => exit::OK,
        },
        Command::Kernels(a) => {
            if a.json {
                gpu_canary::console::try_bytes(kernels::listing_json().as_bytes()).map_err(
                    |e| {
                        gpu_canary::error::Error::io(format!(
                            "cannot write the kernel list to stdout: {e}"
                        ))
                    },
                )?;
            } else {
                gpu_canary::console::text(&kernels::listing());
            }
            exit::OK
        }
    })
}

/// A run's exit code. A run whose worker is still inside the driver (it hung, or a
/// signal came) ends here, everything written: exiting normally would run the drivers'
/// exit handlers while that thread is inside them, which crashes now and then.
/// A command that did its work but whose stdout could not take it (`> /dev/full`, a
/// closed pipe) ends with exit 3, not 0; a failing verdict keeps its own code.
fn stdout_checked(code: i32) -> i32 {
    match gpu_canary::console::stdout_failure() {
        Some(e) if code == exit::OK => {
            gpu_canary::console::err(&format!(
                "error: cannot write to stdout ({e}); give the output a writable place (the files this command wrote are whole)"
            ));
            exit::ENVIRONMENT
        }
        _ => code,
    }
}

fn ended(o: run::RunOutcome) -> i32 {
    if o.abandoned {
        let code = stdout_checked(o.exit_code);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: ends the process at once; every artifact is written and flushed.
        unsafe { libc::_exit(code) };
    }
    o.exit_code
}

/// clap's message in one line: the problem and its possible values or tip, without the
/// usage block (bad input gets one line, as every other error here).
fn one_line(rendered: &str) -> String {
    rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
