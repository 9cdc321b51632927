//! Leaves nothing running: the one way the doctor ends the processes it started (a profile's
//! `credential_process`; a kubeconfig's exec plugin, which kube-rs spawns without kill-on-drop), so that a hung one
//! does not outlive the doctor after a deadline cut its request. Each is killed with everything it started, found
//! in `/proc` (Linux): when its own bound cuts it ([`Guard`]), and whatever is left when the run ends
//! ([`descendants_kill`]).

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
    descendants_of(std::process::id())
}

/// Every process below `root`, parents before their children.
fn descendants_of(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![root];
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
    kill(&descendants());
}

/// Kills a process and every process below it when dropped, unless [`Guard::disarm`]ed: a child cut by its bound
/// (or by the check's timeout, which drops the future that owns the guard) takes what it started with it.
#[derive(Debug)]
pub struct Guard(Option<u32>);

impl Guard {
    /// Guards the process `pid`.
    pub fn new(pid: u32) -> Guard {
        Guard(Some(pid))
    }

    /// The process ended on its own: whatever it left running is its business (an agent it starts on purpose).
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // The children first found, then the process: killed first, it would orphan them out of reach.
            let mut pids = descendants_of(pid);
            pids.push(pid);
            kill(&pids);
        }
    }
}

fn kill(pids: &[u32]) {
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
    fn spawn_with_grandchild() -> std::process::Child {
        let child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 300 & wait")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        child
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
    }

    // One test: `descendants_kill` kills every process below the test binary, so a second test spawning
    // processes at the same time would lose them.
    #[test]
    fn a_guard_and_the_final_reap_leave_nothing_running() {
        // A guard kills its process and what it started, unless disarmed.
        let mut child = spawn_with_grandchild();
        let below = super::descendants_of(child.id());
        assert_eq!(below.len(), 1, "the sleep: {below:?}");
        let mut disarmed = super::Guard::new(child.id());
        disarmed.disarm();
        drop(disarmed);
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(child.try_wait().unwrap().is_none(), "a disarmed guard kills nothing");
        drop(super::Guard::new(child.id()));
        assert!(!child.wait().unwrap().success());
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!alive(below[0]), "the grandchild outlived its guard");

        // The final reap kills whatever is left below this process.
        let mut child = spawn_with_grandchild();
        let found = super::descendants();
        assert!(found.contains(&child.id()), "{found:?}");
        super::descendants_kill();
        assert!(!child.wait().unwrap().success());
        std::thread::sleep(std::time::Duration::from_millis(100));
        let left: Vec<u32> = super::descendants();
        assert!(left.iter().all(|p| *p != child.id()), "{left:?}");
    }
}
