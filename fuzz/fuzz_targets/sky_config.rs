//! Any bytes as a SkyPilot config or task file: reading and resolving never panic.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use skys3::sky::{Layer, SkyConfig, parse_config_yaml, task};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = task(Path::new("task.yaml"), text);
    let Ok((value, _)) = parse_config_yaml(Path::new("config.yaml"), text) else { return };
    let cfg = SkyConfig {
        layers: vec![Layer { path: PathBuf::from("config.yaml"), role: "user", value: value.clone() }],
        errors: vec![],
        duplicates: vec![],
        rejections: skys3::sky_schema::check(&value),
        searched: vec![],
        user_file: PathBuf::from("config.yaml"),
    };
    let _ = cfg.aws_remote_identity();
    let ctx = "arn:aws:eks:us-west-2:1:cluster/c";
    let _ = cfg.kubernetes_namespace(ctx);
    let _ = cfg.pod_service_account(Some(&value), ctx);
    let _ = cfg.launch_contexts(&[ctx.to_string()], Some(ctx));
    let _ = skys3::sky::task_config_rejections(&value);
    let _ = skys3::sky::fnmatchcase(ctx, text);
});
