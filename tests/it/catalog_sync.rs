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

#[test]
fn each_check_declares_exactly_its_catalog_codes() {
    let catalog = Catalog::get();
    for spec in REGISTRY {
        let doc = catalog.check(spec.id).unwrap();
        let in_code: BTreeSet<&str> = spec.codes().iter().map(|c| c.as_str()).collect();
        let in_catalog: BTreeSet<&str> = doc.codes.iter().map(|c| c.code.as_str()).collect();
        assert_eq!(in_code, in_catalog, "codes of {}", spec.id);
        for c in &doc.codes {
            assert!(
                matches!(c.status.as_str(), "fail" | "warn" | "inconclusive"),
                "{}: a check's own codes are fail or warn",
                c.code
            );
        }
    }
}

#[test]
fn codes_are_well_formed_and_cite_the_guide() {
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/skypilot-s3-iam-roles-on-eks.txt"),
    )
    .ok();
    // The guide lives in shared/, beside the checkout; where it is absent the section names go unchecked, except in
    // CI, which always has shared/ beside its clone: there a missing guide is a failure, not a silent skip.
    if guide.is_none() && std::env::var_os("CI").is_some() {
        panic!("CI is set but ../shared/reference/skypilot-s3-iam-roles-on-eks.txt is missing");
    }
    if guide.is_none() {
        eprintln!("note: ../shared/reference/skypilot-s3-iam-roles-on-eks.txt not found; guide sections not checked");
    }
    for (check, code) in Catalog::get().codes() {
        let c = &code.code;
        assert!(
            c.len() == 6 && c.starts_with("SKY") && c[3..].chars().all(|d| d.is_ascii_digit()),
            "{c}"
        );
        assert!(!code.summary.is_empty() && !code.explanation.trim().is_empty(), "{c}");
        assert!(!code.guide.is_empty(), "{c} cites a guide section");
        if let Some(guide) = &guide {
            for part in code.guide.split(" / ") {
                assert!(
                    guide.contains(part),
                    "{c} ({}) cites {part:?}, which is not a section of the guide",
                    check.id
                );
            }
        }
    }
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

#[test]
fn readme_embeds_the_generated_catalog() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (begin, end) = ("<!-- checks:begin -->\n", "<!-- checks:end -->");
    let start = readme.find(begin).expect("README has the checks:begin marker") + begin.len();
    let stop = readme.find(end).expect("README has the checks:end marker");
    let generated = skys3::catalog::checks_markdown();
    if std::env::var_os("SKYS3_BLESS").is_some() {
        std::fs::write(&path, format!("{}{generated}{}", &readme[..start], &readme[stop..])).unwrap();
        return;
    }
    assert!(
        readme[start..stop] == generated,
        "README's check list is stale: run `SKYS3_BLESS=1 scripts/test catalog_sync`"
    );
    for spec in REGISTRY {
        assert!(
            readme.contains(&format!("`{}`", spec.id)),
            "README lists check {}",
            spec.id
        );
    }
    for (_, code) in Catalog::get().codes() {
        assert!(readme.contains(&code.code), "README documents {}", code.code);
    }
}
