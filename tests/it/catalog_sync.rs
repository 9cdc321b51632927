//! The catalog (`checks/*.toml`), the code, and the README never drift apart.

use std::collections::BTreeSet;

use skys3::catalog::{COMMON_ID, Catalog};
use skys3::checks::REGISTRY;

#[test]
fn every_registered_check_has_a_catalog_entry_and_back() {
    let catalog = Catalog::get();
    let registered: BTreeSet<&str> = REGISTRY.iter().map(|s| s.id).collect();
    let documented: BTreeSet<&str> = catalog
        .checks
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| *id != COMMON_ID)
        .collect();
    assert_eq!(registered, documented, "checks in code vs checks/*.toml");
}

/// The codes a check's source names (`Code::BothWirings`), by the variant's catalog name.
fn codes_named_in(source: &str) -> BTreeSet<skys3::code::Code> {
    let re = regex::Regex::new(r"\bCode::([A-Z][A-Za-z0-9]*)\b").unwrap();
    re.captures_iter(source)
        .filter(|c| &c[1] != "ALL")
        .map(|c| {
            // CamelCase back to the kebab-case name: `BothWirings` -> `both-wirings`.
            let mut name = String::new();
            for (i, ch) in c[1].chars().enumerate() {
                if ch.is_ascii_uppercase() && i > 0 {
                    name.push('-');
                }
                name.push(ch.to_ascii_lowercase());
            }
            name.parse()
                .unwrap_or_else(|_| panic!("Code::{} has no catalog name {name}", &c[1]))
        })
        .collect()
}

#[test]
fn each_check_reports_only_its_own_codes_and_all_of_them() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    for spec in REGISTRY {
        let module = spec.id.replace(['.', '-'], "_");
        let source = read(&format!("src/checks/{module}.rs"));
        let own = codes_named_in(&source);
        for code in &own {
            assert!(
                code.check_id() == spec.id || code.check_id() == COMMON_ID,
                "{} reports {code} ({}), a code of {}: each check reports its own catalog codes",
                spec.id,
                code.name(),
                code.check_id()
            );
        }
        // The in-pod check's codes for error texts come from the shared classifier (which also names, as other
        // causes, codes other checks decide).
        let mut reachable = own;
        if spec.id == "pod.s3-list" {
            reachable.extend(codes_named_in(&read("src/classify.rs")));
        }
        for code in spec.codes() {
            assert!(
                reachable.contains(code),
                "{code} ({}) is in {}'s catalog file, but its source never reports it",
                code.name(),
                spec.id
            );
        }
    }
}

#[test]
fn the_code_scan_can_fail() {
    use skys3::code::Code;
    let named = codes_named_in("Outcome::fail(Code::TrustExplicitDeny, ..); Code::ALL; Code::NotApplicable");
    assert_eq!(named, [Code::TrustExplicitDeny, Code::NotApplicable].into());
}

/// The guide's outline as the repository keeps it (`checks/guide-sections.txt`): (title, parent title).
fn guide_outline() -> Vec<(String, Option<String>)> {
    let text =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/guide-sections.txt"))
            .expect("checks/guide-sections.txt");
    let mut parent: Option<String> = None;
    let mut out = vec![];
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let title = line.trim().to_string();
        if line.starts_with(' ') {
            out.push((title, parent.clone()));
        } else {
            parent = Some(title.clone());
            out.push((title, None));
        }
    }
    out
}

/// Whether `citation` names a section of the outline: a title, or "Parent / Subsection".
fn cites_a_section(outline: &[(String, Option<String>)], citation: &str) -> bool {
    match citation.split_once(" / ") {
        None => outline.iter().any(|(t, _)| t == citation),
        Some((parent, sub)) => outline.iter().any(|(t, p)| t == sub && p.as_deref() == Some(parent)),
    }
}

#[test]
fn codes_are_well_formed_and_cite_the_guide() {
    let outline = guide_outline();
    for (check, code) in Catalog::get().codes() {
        let c = &code.code;
        assert!(
            c.len() == 6 && c.starts_with("SKY") && c[3..].chars().all(|d| d.is_ascii_digit()),
            "{c}"
        );
        assert!(!code.summary.is_empty() && !code.explanation.trim().is_empty(), "{c}");
        assert!(
            cites_a_section(&outline, &code.guide),
            "{c} ({}) cites {:?}, which is not a section of the guide (checks/guide-sections.txt)",
            check.id,
            code.guide
        );
    }
    for check in &Catalog::get().checks {
        if !check.guide.is_empty() {
            assert!(
                cites_a_section(&outline, &check.guide),
                "{} cites {:?}, not a section of the guide",
                check.id,
                check.guide
            );
        }
    }
    // The rule can fail: a step under the wrong option, or a title the guide does not have.
    assert!(!cites_a_section(
        &outline,
        "Option 2: IRSA (IAM roles for service accounts) / Step 4: Create Pod Identity association"
    ));
    assert!(!cites_a_section(&outline, "Step 9: Nothing"));
}

#[test]
fn the_kept_outline_is_the_guides() {
    // Where the guide itself is present (beside the checkout, as the workplace keeps it), the outline must list
    // exactly its section titles, in order. A clone on its own has no guide, and relies on the kept outline.
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/skypilot-s3-iam-roles-on-eks.txt");
    let Ok(guide) = std::fs::read_to_string(&path) else {
        eprintln!(
            "note: {} not found; the kept outline is not compared with it",
            path.display()
        );
        return;
    };
    // The guide's headings end with `#` (its Sphinx permalinks, as the text was saved).
    let headings: Vec<&str> = guide
        .lines()
        .filter_map(|l| l.trim_end().strip_suffix('#'))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let kept: Vec<String> = guide_outline().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        kept, headings,
        "checks/guide-sections.txt differs from the guide's headings"
    );
}

#[test]
fn templates_use_only_known_placeholders() {
    // Target values every remediation can use, plus the values checks add for specific codes.
    let known: BTreeSet<&str> = [
        "cluster",
        "region",
        "context",
        "namespace",
        "service_account",
        "bucket",
        "role_name",
        "policy_name",
        "sky_config_path",
        "found",
        "file",
        "line",
        "column",
        "account_id",
        "partition",
        "role_arn",
        "policy_arn",
        "mode",
        "trust_policy_json",
        "s3_policy_json",
        "new_s3_policy_json",
        "oidc_provider",
        "oidc_provider_arn",
        "association_id",
        "sky_cluster",
        "variable",
        "profile",
        "cache",
        "target_role_arn",
        "target_role_name",
        "target_account",
        "first_role_arn",
        "external_id",
        "missing",
        "association_policy",
        "assume_target_json",
        "action",
        "resource",
        "denying_policy",
    ]
    .into();
    for (_, code) in Catalog::get().codes() {
        let fix = code.fix.iter().flat_map(|f| f.run.iter().chain(f.unless.iter()));
        for t in std::iter::once(&code.summary).chain(&code.commands).chain(fix) {
            for p in skys3::template::placeholders(t) {
                assert!(
                    known.contains(p.as_str()),
                    "{}: unknown placeholder {{{p}}} in {t}",
                    code.code
                );
            }
        }
    }
}

/// Keeps the text between `<!-- NAME:begin -->` and `<!-- NAME:end -->` in a docs file equal to `generated`
/// (`SKYS3_BLESS=1` rewrites it instead), and returns the file.
fn in_sync(file: &str, name: &str, generated: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = (format!("<!-- {name}:begin -->\n"), format!("<!-- {name}:end -->"));
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{file} has the {begin} marker"))
        + begin.len();
    let stop = text.find(&end).unwrap_or_else(|| panic!("{file} has the {end} marker"));
    if std::env::var_os("SKYS3_BLESS").is_some() {
        let blessed = format!("{}{generated}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, &blessed).unwrap();
        return blessed;
    }
    assert!(
        text[start..stop] == *generated,
        "{file}'s {name} section is stale: run `SKYS3_BLESS=1 scripts/test catalog_sync`"
    );
    text
}

#[test]
fn docs_embed_the_generated_catalog() {
    let generated = skys3::catalog::checks_markdown(REGISTRY.iter().map(|s| s.id));
    let doc = in_sync("docs/checks.md", "checks", &generated);
    for spec in REGISTRY {
        assert!(
            doc.contains(&format!("`{}`", spec.id)),
            "docs/checks.md lists check {}",
            spec.id
        );
    }
    for (_, code) in Catalog::get().codes() {
        assert!(
            doc.contains(&code.code) && doc.contains(&format!("`{}`", code.name)),
            "docs/checks.md documents {} ({})",
            code.code,
            code.name
        );
    }
}

#[test]
fn docs_embed_the_inputs_table() {
    in_sync("docs/usage.md", "inputs", &skys3::target::inputs_markdown());
    // The table is the one clap reads: each flag's environment variable comes from it.
    let cli = <skys3::cli::Cli as clap::CommandFactory>::command();
    let doctor = cli.find_subcommand("doctor").unwrap();
    for field in skys3::target::Field::ALL {
        let arg = doctor
            .get_arguments()
            .find(|a| a.get_id() == field.key())
            .unwrap_or_else(|| panic!("doctor has an argument {}", field.key()));
        assert_eq!(arg.get_long(), Some(field.flag()), "{}", field.key());
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(field.env()),
            "{}",
            field.key()
        );
    }
}
