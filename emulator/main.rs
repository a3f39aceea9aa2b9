//! `twilio-emulator`: a local stand-in for Twilio. It speaks the REST subset Switchboard uses in
//! Twilio's wire format, calls Switchboard's webhooks the way Twilio does (signed, with status
//! callbacks and TwiML fetches), follows per-number scripts for the people it simulates, and runs
//! named end-to-end scenarios (`twilio-emulator simulate missed-call`). The production server does
//! not link any of this.
#![forbid(unsafe_code)]

mod clock;
mod conference;
mod control;
mod doc;
mod engine;
mod rest;
mod scenarios;
mod state;
mod timeline;
mod wait;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;

/// A local stand-in for Twilio, to try and test Switchboard without a Twilio account.
///
/// It serves the subset of Twilio's REST API that Switchboard uses, calls Switchboard's webhooks
/// as Twilio does (signed, with status callbacks), plays the people on the phone from per-number
/// scripts, and runs named end-to-end scenarios (`twilio-emulator simulate --list`).
// No bare `about`: it would inherit the package's description, which is the server's.
#[derive(Debug, Parser)]
#[command(name = "twilio-emulator", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the emulated REST API and drive calls and messages (the default).
    Serve(ServeArgs),
    /// Run a named scenario against a running server and emulator.
    Simulate(scenarios::SimulateArgs),
}

#[derive(Debug, Clone, Parser)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "EMULATOR_LISTEN_ADDR", default_value = "127.0.0.1:3300")]
    listen: String,
    /// The account SID Switchboard is configured with.
    #[arg(long, env = "TWILIO_ACCOUNT_SID", default_value = "AC00000000000000000000000000000000")]
    account_sid: String,
    /// The auth token Switchboard verifies webhook signatures with.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", default_value = "emulator-auth-token")]
    auth_token: String,
    /// Switchboard's base URL: where inbound calls and messages go by default.
    #[arg(long, env = "EMULATOR_TARGET", default_value = "http://localhost:8080")]
    target: url::Url,
    /// `real`, `scaled:N` (N times faster) or `manual` (moves only with /_emulator/clock/advance).
    #[arg(long, env = "EMULATOR_CLOCK", default_value = "real")]
    clock: String,
}

impl Default for ServeArgs {
    fn default() -> Self {
        ServeArgs::parse_from(["serve"])
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("twilio-emulator: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Some(Command::Simulate(args)) => runtime.block_on(scenarios::run(args)),
        Some(Command::Serve(args)) => runtime.block_on(serve(args)).map(|()| true),
        None => runtime.block_on(serve(ServeArgs::default())).map(|()| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("twilio-emulator: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let clock = clock::EmuClock::parse(&args.clock)?;
    let config =
        state::Config { account_sid: args.account_sid, auth_token: args.auth_token, target: args.target };
    let emulator = Arc::new(state::Emulator::new(config, clock)?);
    let app = rest::router().merge(control::router()).with_state(emulator);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    // The first line of stdout says where to reach us (port 0 picks a free port).
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or_default() })
        .await?;
    Ok(())
}
