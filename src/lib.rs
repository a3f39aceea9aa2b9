//! Switchboard: one binary, backed by PostgreSQL, that runs a business's telephony on Twilio.
//!
//! # Layout
//! - [`cli`], [`commands`]: the command line and what each subcommand does.
//! - [`config`]: typed settings (embedded defaults → file → environment), validated at start.
//! - [`startup`]: `Application::build` / `run_until_stopped`, graceful shutdown.
//! - [`state`], [`clock`]: the shared state and the only source of business time.
//! - [`http`], [`error`]: the router and its layers; problem+json errors.
//! - [`db`]: the pool and embedded migrations; [`primary`]: whether a connection still reaches
//!   a server that takes writes (a leaf).
//! - [`health`]: `/health`, `/ready`, `/metrics`.
//! - [`domain`]: the one place a domain plugs in (routes, effect owner, workers, destinations).
//! - [`worker`], [`workers`]: the `Worker` trait (a leaf) and the loops that run workers.
//! - [`ids`], [`redact`]: leaves every layer uses: the tenant id, phone masking for logs.
//! - [`telemetry`], [`net`]: logging with redaction; outbound HTTP clients.
//! - [`twilio`]: the only module that knows Twilio's wire formats.
//! - [`tenants`], [`auth`]: businesses and numbers; API keys, roles, tenant-scoped transactions.
//! - [`audit`], [`outbox`]: the hash-chained audit log; durable delivery of every effect.
//! - [`effects`]: exactly-once Twilio calls and messages, their ledger, pacing, reconciliation.
//! - [`inbound`]: inbound calls (ring the owner, text back missed calls) and SMS conversations.
//! - [`approvals`]: crises held for a duty officer's approval by phone; dispatch; expiry.
//! - [`outbound`]: runs of leads dialled at a per-business cap, paced, cancellable, exactly once.
//! - [`sessions`]: scheduled two-party calls (client and reader) in a Twilio conference, and
//!   the sirens raised on them (a domain of its own: `sessions::sirens`).
//! - [`console`]: the operator console at `/console` (sessions, CSRF, live updates; pages come
//!   from the core modules and each domain).
//! - [`system`]: the only path that skips the tenant scope (row-level security).
//! - [`idempotency`], [`pagination`], [`filters`]: `Idempotency-Key` replays, list pages and typed
//!   list filters for every domain.
//!
//! The architecture is described in `DESIGN.md` (shared with the team) and summarised in the
//! README.
#![forbid(unsafe_code)]

pub mod approvals;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod effects;
pub mod error;
pub mod filters;
pub mod health;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod inbound;
pub mod net;
pub mod openapi;
pub mod outbound;
pub mod outbox;
pub mod pagination;
pub mod primary;
pub mod redact;
pub mod sessions;
pub mod startup;
pub mod state;
pub mod system;
pub mod telemetry;
pub mod tenants;
pub mod twilio;
pub mod worker;
pub mod workers;
pub mod writebehind;
