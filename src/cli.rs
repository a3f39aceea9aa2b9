//! The command line (DESIGN.md §4). clap answers usage errors itself with exit code 2.

use clap::{Parser, Subcommand};

/// Switchboard: a self-hostable backend for businesses that run their telephony on Twilio.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the webhooks, the operator API and the probes (the default).
    Serve {
        /// Apply pending database migrations before serving.
        #[arg(long)]
        migrate: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 if `/ready` answers 200 (a container probe that needs no curl).
    Healthcheck {
        /// The readiness URL; by default `/ready` on the configured listen port of localhost.
        url: Option<String>,
    },
}

impl Cli {
    /// The chosen subcommand, `serve` by default.
    pub fn command(&self) -> &Command {
        const DEFAULT: Command = Command::Serve { migrate: false };
        self.command.as_ref().unwrap_or(&DEFAULT)
    }
}
