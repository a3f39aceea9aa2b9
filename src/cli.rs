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
    /// Manage operator API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

/// `switchboard audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every tenant's hash chain; exit 1 and print the first broken link if any is broken.
    Verify {
        /// Only this tenant (slug or id).
        #[arg(long)]
        tenant: Option<String>,
    },
}

/// `switchboard keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; the token is printed alone on the last line of stdout.
    Create {
        /// A superadmin key (every tenant).
        #[arg(long, conflicts_with_all = ["tenant", "role", "subject"], required_unless_present = "tenant")]
        superadmin: bool,
        /// The tenant's slug (or id).
        #[arg(long, requires = "role")]
        tenant: Option<String>,
        /// admin, monitor, client or reader.
        #[arg(long, value_parser = ["admin", "monitor", "client", "reader"])]
        role: Option<String>,
        /// For client and reader keys: whose orders they see.
        #[arg(long)]
        subject: Option<String>,
        /// A label.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their tokens).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key's id.
        key_id: uuid::Uuid,
    },
}

impl Cli {
    /// The chosen subcommand, `serve` by default.
    pub fn command(&self) -> &Command {
        const DEFAULT: Command = Command::Serve { migrate: false };
        self.command.as_ref().unwrap_or(&DEFAULT)
    }
}
