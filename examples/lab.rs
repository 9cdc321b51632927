//! Starts the lab for a named scenario and runs the real `skys3 doctor` against it, so a newcomer without AWS
//! sees a real report. Use `scripts/lab` (it builds the binary first):
//!
//! ```text
//! scripts/lab                                  # list scenarios
//! scripts/lab healthy-pod-identity             # the table
//! scripts/lab context-other-cluster -o json    # extra arguments go to `skys3 doctor`
//! ```

// The example serves a part of the lab the test suite uses in full.
#[allow(dead_code)]
#[path = "../tests/lab/mod.rs"]
mod lab;

fn main() {
    let mut args = std::env::args().skip(1);
    let scenarios = lab::named();
    let Some(name) = args.next() else {
        eprintln!("usage: scripts/lab SCENARIO [skys3 doctor options]\n\nscenarios:");
        for (n, what, _) in &scenarios {
            eprintln!("  {n:<24} {what}");
        }
        std::process::exit(2);
    };
    let Some((_, _, scenario)) = scenarios.into_iter().find(|(n, _, _)| *n == name) else {
        eprintln!("unknown scenario {name:?}; run scripts/lab without arguments for the list");
        std::process::exit(2);
    };
    let lab = lab::Lab::start(scenario);
    let rest: Vec<String> = args.collect();
    let status = lab
        .command()
        .env_remove("NO_COLOR")
        .arg("doctor")
        .args(&rest)
        .status()
        .expect("skys3 runs");
    std::process::exit(status.code().unwrap_or(1));
}
