//! skys3: a read-only doctor for SkyPilot pods that reach S3 through an IAM role on EKS (Pod Identity or IRSA).
//!
//! The layers, from the outside in: [`cli`] (clap and printing only) -> [`doctor`] (the run's rules: contexts,
//! which variable gives way to which flag, suppressions) -> [`engine`] (schedules checks: warm-ups, dependencies,
//! timeouts) -> [`checks`] (small decisions over facts) -> [`check`] (the check API: what a check sees and
//! decides) -> [`lookup`], [`target`], [`wiring`] (the domain) -> [`probe`] (the only code that talks to AWS and
//! Kubernetes, read-only, memoized). [`report`] is the one model every [`render`]er reads; [`catalog`] is
//! `checks/*.toml`, embedded at build time. A module uses only the modules below it: `tests/it/layers.rs` holds
//! the order and fails on a `use` that reaches up.

pub mod arn;
pub mod catalog;
pub mod check;
pub mod checks;
pub mod classify;
pub mod cli;
pub mod code;
pub mod doctor;
pub mod engine;
pub mod exit;
pub mod fix;
pub mod guide;
pub mod lookup;
pub mod merge;
pub mod permissions;
pub mod pods;
pub mod policy;
pub mod probe;
pub mod reap;
pub mod redact;
pub mod render;
pub mod report;
pub mod saved;
pub mod sky;
pub mod sky_schema;
pub mod suppress;
pub mod target;
pub mod template;
pub mod wiring;
