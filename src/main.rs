//! Parses flags, calls the library, maps the outcome to an exit code; nothing else.

use std::process::ExitCode;

use clap::Parser;
use gpu_canary::cli::{Cli, Command};
use gpu_canary::error::exit;
use gpu_canary::{adapters, app, compare, config, history, kernels};

fn main() -> ExitCode {
    // Lavapipe floods stderr without a runtime directory; any writable one will do.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: single-threaded at this point; no other thread reads the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            eprintln!("{}", one_line(&e.render().to_string()));
            return ExitCode::from(exit::USAGE as u8);
        }
    };
    let code = match cli.command {
        Command::Adapters(a) => match gpu_canary::gpu::backends_arg(a.backend.as_deref()) {
            Ok(backends) => {
                let list = adapters::list(backends);
                if a.json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list).expect("adapter list serialises")
                    );
                } else {
                    print!("{}", adapters::render_text(&list));
                }
                if list.is_empty() {
                    exit::ENVIRONMENT
                } else {
                    exit::OK
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Command::Run(args) => match config::RunConfig::from_args(args) {
            Ok(cfg) => app::run(cfg),
            Err(e) => {
                eprintln!("error: {e}");
                e.exit_code()
            }
        },
        Command::Compare(args) => compare::main(&args),
        Command::History(args) => history::main(&args),
        Command::Tune(args) => gpu_canary::tune::main(&args),
        Command::Kernels => {
            for k in kernels::REGISTRY {
                let shapes = |s| {
                    k.suite(s)
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                println!(
                    "{:<11} {}\n            quick: {}\n            full:  {}",
                    k.id(),
                    k.describe(),
                    shapes(kernels::Suite::Quick),
                    shapes(kernels::Suite::Full)
                );
            }
            exit::OK
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
