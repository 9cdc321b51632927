//! Any bytes as a SkyPilot config or task file: reading and resolving never panic.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use skys3::sky::{Layer, SkyConfig, parse_yaml, task};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = task(Path::new("task.yaml"), text);
    let Ok(value) = parse_yaml(Path::new("config.yaml"), text) else { return };
    let cfg = SkyConfig {
        layers: vec![Layer { path: PathBuf::from("config.yaml"), role: "user", value: value.clone() }],
        errors: vec![],
        searched: vec![],
        user_file: PathBuf::from("config.yaml"),
    };
    let _ = cfg.aws_remote_identity();
    let _ = cfg.kubernetes_namespace();
    let _ = cfg.pod_service_account(Some(&value), "arn:aws:eks:us-west-2:1:cluster/c");
});
