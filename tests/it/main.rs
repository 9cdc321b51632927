//! Integration tests: one binary, the real `skys3` executable against the lab.

#[path = "../lab/mod.rs"]
mod lab;

mod action;
mod aws_checks;
mod aws_oracle;
mod catalog_sync;
mod classifier;
mod cli_contract;
mod cluster_checks;
mod decisions;
mod doctor_checks;
mod faults;
mod fix_script;
mod kubeconfig_oracle;
mod lab_selftest;
mod launch_gate;
mod layers;
mod pod_errors;
mod real_clients;
mod reports;
mod sky_oracle;
mod targets;
mod wheel;
