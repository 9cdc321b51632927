//! The crate's modules form one stack: each may use only the modules below it. A `use` that reaches up (or a
//! circle) fails here, naming the file and line, before it makes the next change harder.

use std::collections::BTreeMap;
use std::path::Path;

/// Bottom first. A module may refer only to modules earlier in this list.
const LAYERS: &[&str] = &[
    // Foundations: no domain knowledge of their own.
    "code",
    "exit",
    "guide",
    "template",
    "policy",
    "sky_schema",
    "reap",
    "classify",
    "merge",
    // The probe layer: the only code that talks to AWS and Kubernetes.
    "probe",
    "arn",
    // The report model and what reads it.
    "report",
    "catalog",
    "redact",
    "saved",
    "suppress",
    // The domain: SkyPilot's config, the wiring, the target, and the lookups several checks share.
    "sky",
    "wiring",
    "target",
    "pods",
    "lookup",
    // The check API, the checks on it, and the engine that schedules them.
    "check",
    "checks",
    "engine",
    // A run, and its edges.
    "fix",
    "permissions",
    "render",
    "doctor",
    "cli",
    "main",
];

/// `crate::name` (or `skys3::name` in the binary) references in a file's code, with their line numbers.
fn references(text: &str) -> Vec<(usize, String)> {
    let re = regex::Regex::new(r"\b(?:crate|skys3)::([a-z_]+)").unwrap();
    text.lines()
        .enumerate()
        // Doc and line comments may point anywhere: a link is not a dependency.
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .flat_map(|(i, l)| {
            re.captures_iter(l)
                .map(move |c| (i + 1, c[1].to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_reaches_up() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let mut files = vec![];
    rust_files(&src, &mut files);
    let mut wrong = vec![];
    let mut seen = std::collections::BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        seen.insert(module.to_string());
        let Some(&own) = rank.get(module) else {
            wrong.push(format!("src/{}: module {module} is not in LAYERS", rel.display()));
            continue;
        };
        for (line, used) in references(&std::fs::read_to_string(file).unwrap()) {
            match rank.get(used.as_str()) {
                Some(&r) if r <= own => {}
                Some(_) => wrong.push(format!(
                    "src/{}:{line}: {module} uses {used}, which sits above it",
                    rel.display()
                )),
                None => wrong.push(format!("src/{}:{line}: {used} is not in LAYERS", rel.display())),
            }
        }
    }
    let stale: Vec<_> = LAYERS.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(stale.is_empty(), "LAYERS names modules that no longer exist: {stale:?}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_rule_can_fail() {
    // The scanner sees a reference in code and ignores one in a comment.
    let refs = references("use crate::engine::Ctx;\n/// see [`crate::cli`]\nlet x = skys3::doctor::run;");
    assert_eq!(refs, vec![(1, "engine".to_string()), (3, "doctor".to_string())]);
}
