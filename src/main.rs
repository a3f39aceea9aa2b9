//! The `switchboard` binary: parse the command line, load the configuration, init telemetry,
//! run the subcommand. Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.

use std::process::ExitCode;
use switchboard::cli::{Cli, Command};
use switchboard::config::{Config, Purpose};
use switchboard::{commands, telemetry};

fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let purpose = match cli.command() {
        Command::Serve { .. } => Purpose::Serve,
        Command::Migrate => Purpose::Database,
        Command::Healthcheck { .. } => Purpose::Probe,
        Command::Keys(_) | Command::Audit(_) => Purpose::Database,
    };
    let config = match Config::from_env(purpose) {
        Ok(config) => config,
        Err(errors) => {
            for problem in &errors.problems {
                eprintln!("switchboard: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    if purpose != Purpose::Probe {
        telemetry::init(config.log.format);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("switchboard: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::run(cli.command(), config)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "command failed");
            eprintln!("switchboard: {e:#}");
            ExitCode::from(1)
        }
    }
}
