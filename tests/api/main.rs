//! Integration tests: one binary. Each test spawns the real application on port 0 against a fresh
//! database (`#[sqlx::test]`) and talks to it over HTTP.

mod access;
mod architecture;
mod audit;
mod call_order;
mod cli;
mod crises;
mod domains;
mod effects;
mod emulator;
mod fake_twilio;
mod fixture;
mod health;
mod helpers;
mod hostile;
mod http_errors;
mod inbound;
mod inbound_faults;
mod inbound_owner;
mod openapi;
mod outage;
mod outbound;
mod outbound_control;
mod outbound_crash;
mod outbound_support;
mod outbound_upload;
mod outbox;
mod receiver;
mod shutdown;
mod signing;
mod simulate;
mod tenants;
mod twilio_rest;
mod twilio_webhooks;
mod webhook_fuzz;
mod xml;
