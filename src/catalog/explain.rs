//! `skys3 explain`: a code's explanation and fix, or the likely causes of an error text pasted from a pod.

use crate::catalog::{COMMON_ID, Catalog};

/// `skys3 explain "error text"`: the likely causes of an error pasted from a pod or a log, the checks that decide
/// between them, and the guide's fixes.
pub fn explain_text(text: &str) -> Option<String> {
    let known = crate::classify::classify(text)?;
    let catalog = Catalog::get();
    let mut out = format!("Recognised: {} ({}).\n\n", known.meaning, known.code);
    let causes = crate::classify::causes(known.code);
    if causes.is_empty() {
        // One cause only: the code's own fix says what to do.
        let doc = catalog.doc(known.code);
        out.push_str(&format!("Fix:\n  {}\n", doc.summary));
    } else {
        out.push_str("Likely causes, and the checks that decide between them:\n");
    }
    for c in causes {
        out.push_str(&format!("  - {}\n", c.cause));
        for (check, codes) in c.decided_by {
            let titles: Vec<String> = codes
                .iter()
                .map(|code| format!("{code} {}", catalog.doc(*code).title))
                .collect();
            out.push_str(&format!("      {check}: {}\n", titles.join("; ")));
        }
    }
    out.push_str("\nRun `skys3 doctor` to see which one it is. The guide's troubleshooting section says:\n");
    for line in crate::classify::GUIDE_TROUBLESHOOTING {
        out.push_str(&format!("  - {line}\n"));
    }
    out.push_str(&format!(
        "\n`skys3 explain {}` explains the finding itself.\n",
        known.code
    ));
    Some(out)
}

/// `skys3 explain CODE`.
pub fn explain(code: &str) -> Option<String> {
    let (check, doc) = Catalog::get().code(code.trim())?;
    let mut out = format!("{} ({}): {}\n", doc.code, doc.name, doc.title);
    let check_name = if check.id == COMMON_ID {
        "any check".to_string()
    } else {
        format!("{} ({})", check.id, check.title)
    };
    out.push_str(&format!("check:  {check_name}\nstatus: {}\n\n", doc.status.as_str()));
    out.push_str(doc.explanation.trim());
    out.push_str("\n\nFix:\n  ");
    out.push_str(&doc.summary);
    out.push('\n');
    for c in &doc.commands {
        out.push_str(&format!("  $ {c}\n"));
    }
    if !doc.fix.is_empty() {
        out.push_str("\nIn `skys3 doctor --fix-script` (each step only when its test fails):\n");
        for f in &doc.fix {
            let phase = serde_json::to_value(f.phase)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            out.push_str(&format!("  [{phase}]"));
            match &f.unless {
                Some(test) => out.push_str(&format!(" unless: {test}\n")),
                None => out.push('\n'),
            }
            if let Some(kind) = &f.document {
                out.push_str(&format!(
                    "    writes the {kind} as the doctor read it plus this finding's additions (nothing removed), \
                     after checking it is unchanged since the doctor read it\n"
                ));
            }
            if let Some(var) = &f.when {
                out.push_str(&format!("    (only when {{{var}}} is known)\n"));
            }
            for c in &f.run {
                out.push_str(&format!("    $ {c}\n"));
            }
        }
    }
    out.push_str(&format!(
        "\nGuide: \"Using IAM Roles for S3 Access on EKS\", section \"{}\"\n",
        doc.guide
    ));
    Some(out)
}
