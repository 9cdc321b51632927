//! `skys3 checks`: the catalog listed for people, and as the Markdown `docs/checks.md` embeds.

use crate::catalog::{COMMON_ID, Catalog, CheckDoc};

/// `skys3 checks`: every check in `order` (the registry's, which the catalog does not know) with its codes, then
/// the shared codes.
pub fn list_checks<'a>(order: impl IntoIterator<Item = &'a str>) -> String {
    let catalog = Catalog::get();
    let mut out = String::new();
    let mut section = |heading: &str, doc: &CheckDoc| {
        out.push_str(&format!("{heading:<24} {}\n", doc.title));
        for c in &doc.codes {
            out.push_str(&format!(
                "    {:<8} {:<13} {:<30} {}\n",
                c.code,
                c.status.as_str(),
                c.name,
                c.title
            ));
        }
    };
    for id in order {
        let doc = catalog
            .check(id)
            .expect("every registered check has a catalog entry (tested)");
        section(id, doc);
    }
    if let Some(common) = catalog.check(COMMON_ID) {
        section("(any check)", common);
    }
    out
}

/// `skys3 checks --markdown`: the catalog as Markdown, checks in `order`. The docs embed it verbatim (tested).
pub fn checks_markdown<'a>(order: impl IntoIterator<Item = &'a str>) -> String {
    let catalog = Catalog::get();
    let cell = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|");
    let mut out = String::new();
    let ids = order.into_iter().chain([COMMON_ID]);
    for id in ids {
        let doc = catalog.check(id).expect("catalog entry (tested)");
        if id == COMMON_ID {
            out.push_str("#### Codes any check can carry\n\n");
        } else {
            out.push_str(&format!("#### `{id}`: {}\n\n", doc.title));
        }
        out.push_str(&format!("{}\n\n", cell(&doc.verifies)));
        out.push_str("| code | name | status | meaning | fix | guide section |\n|---|---|---|---|---|---|\n");
        for c in &doc.codes {
            out.push_str(&format!(
                "| {} | `{}` | {} | {} | {} | {} |\n",
                c.code,
                c.name,
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
