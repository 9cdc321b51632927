//! Leaves nothing running: the processes the doctor started (through the AWS SDK, a profile's
//! `credential_process`; through kube-rs, a kubeconfig's exec plugin) are killed when the run ends. The SDKs
//! spawn them without kill-on-drop, so a hung one outlived the doctor after its deadline cut the request.

use std::path::Path;

/// The direct children of `pid`, from `/proc` (Linux); none elsewhere.
fn children_of(pid: u32) -> Vec<u32> {
    let tasks = Path::new("/proc").join(pid.to_string()).join("task");
    let Ok(entries) = std::fs::read_dir(tasks) else {
        return vec![];
    };
    entries
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Every process below this one, parents before their children.
pub fn descendants() -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![std::process::id()];
    while let Some(pid) = queue.pop() {
        for c in children_of(pid) {
            if !out.contains(&c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// Kills every process below this one (SIGKILL: they had their chance until the deadline).
pub fn descendants_kill() {
    let pids = descendants();
    if pids.is_empty() {
        return;
    }
    // The shell's own `kill`: no extra binary needed, and no unsafe code in this crate.
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg("kill -9 \"$@\" 2>/dev/null")
        .arg("skys3-reap")
        .args(pids.iter().map(u32::to_string))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hung_grandchild_is_reaped() {
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 300 & wait")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let found = super::descendants();
        assert!(found.contains(&child.id()), "{found:?}");
        super::descendants_kill();
        let status = child.wait().unwrap();
        assert!(!status.success());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let left: Vec<u32> = super::descendants();
        assert!(left.iter().all(|p| *p != child.id()), "{left:?}");
    }
}
