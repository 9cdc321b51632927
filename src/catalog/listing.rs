//! `skys3 checks`: the catalog listed for people, and as the Markdown the README embeds.

use crate::catalog::{COMMON_ID, Catalog};
use crate::checks::REGISTRY;

/// `skys3 checks`: every check in report order with its codes, then the shared codes.
pub fn list_checks() -> String {
    let catalog = Catalog::get();
    let mut out = String::new();
    for spec in REGISTRY {
        let doc = catalog
            .check(spec.id)
            .expect("every registered check has a catalog entry (tested)");
        out.push_str(&format!("{:<24} {}\n", doc.id, doc.title));
        for c in &doc.codes {
            out.push_str(&format!("    {:<8} {:<13} {}\n", c.code, c.status.as_str(), c.title));
        }
    }
    if let Some(common) = catalog.check(COMMON_ID) {
        out.push_str(&format!("{:<24} {}\n", "(any check)", common.title));
        for c in &common.codes {
            out.push_str(&format!("    {:<8} {:<13} {}\n", c.code, c.status.as_str(), c.title));
        }
    }
    out
}

/// `skys3 checks --markdown`: the catalog as Markdown, in report order. The README embeds it verbatim (tested).
pub fn checks_markdown() -> String {
    let catalog = Catalog::get();
    let cell = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
    let mut out = String::new();
    let ids = REGISTRY.iter().map(|s| s.id).chain([COMMON_ID]);
    for id in ids {
        let doc = catalog.check(id).expect("catalog entry (tested)");
        if id == COMMON_ID {
            out.push_str("#### Codes any check can carry\n\n");
        } else {
            out.push_str(&format!("#### `{id}`: {}\n\n", doc.title));
        }
        out.push_str(&format!("{}\n\n", cell(&doc.verifies)));
        out.push_str("| code | status | meaning | fix | guide section |\n|---|---|---|---|---|\n");
        for c in &doc.codes {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c.code,
                c.status.as_str(),
                cell(&c.title),
                cell(&c.summary),
                cell(&c.guide)
            ));
        }
        out.push('\n');
    }
    out
}
