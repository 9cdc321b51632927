//! The check catalog: `checks/*.toml`, embedded at build time.
//!
//! Each file describes one check (id, title, what it verifies) and its failure codes with their remediation
//! templates. `_common.toml` holds the codes the engine gives any check (access denied, timeout, ...). Codes are
//! permanent: they are never renamed or reused.

mod explain;
mod listing;

pub use explain::{explain, explain_text};
pub use listing::{checks_markdown, list_checks};

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::code::Code;
use crate::report::Status;

mod files {
    include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));
}

/// The id of the catalog file that holds the engine's shared codes.
pub const COMMON_ID: &str = "_common";

/// One catalog file: a check, or the shared codes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDoc {
    /// Stable check id, e.g. `iam.trust-policy`.
    pub id: String,
    /// One-line title.
    pub title: String,
    /// What the check verifies, for people.
    pub verifies: String,
    /// The guide section the check follows.
    #[serde(default)]
    pub guide: String,
    /// The codes this check can report.
    #[serde(default)]
    pub codes: Vec<CodeDoc>,
}

/// One failure code and its remediation template.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeDoc {
    /// Permanent code, e.g. `SKY121`.
    pub code: String,
    /// Short kebab-case name, e.g. `context-other-cluster`: the `Code` variant (`Code::ContextOtherCluster`) and
    /// what people say. Like the code, never reused for another meaning.
    pub name: String,
    /// The status a finding with this code has.
    pub status: Status,
    /// One-line title.
    pub title: String,
    /// Longer explanation (Markdown).
    pub explanation: String,
    /// Remediation summary template; `{name}` placeholders are filled with the user's values.
    pub summary: String,
    /// Remediation command templates; placeholders are filled shell-quoted.
    pub commands: Vec<String>,
    /// The section of the guide the fix comes from.
    pub guide: String,
    /// The steps `--fix-script` writes for this code, in the order given; none when no command can fix it.
    #[serde(default)]
    pub fix: Vec<FixDoc>,
    /// A SkyPilot config edit that fixes it, which the script shows for the user to paste (never scripted).
    #[serde(default)]
    pub edit: Option<EditDoc>,
}

/// A config edit to paste: the file, the key path and the YAML to set (placeholders filled, unquoted).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditDoc {
    /// The file to edit.
    pub file: String,
    /// The key path, e.g. `aws.remote_identity`.
    pub key: String,
    /// The YAML that sets it, from the top level.
    pub yaml: String,
}

/// One step of a fix script: commands that change something, and the read-only test that makes it safe to rerun.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixDoc {
    /// Where the step goes in the script (the script sorts by phase, so that what a step needs exists first).
    pub phase: crate::report::FixPhase,
    /// A read-only command that succeeds when the step is already done; the step runs only when it fails.
    #[serde(default)]
    pub unless: Option<String>,
    /// The commands (placeholders filled shell-quoted).
    #[serde(default)]
    pub run: Vec<String>,
    /// The step writes an IAM document of this kind (`trust-policy`, `managed-policy`, `inline-policy`): the
    /// check supplies the document it read and the additive edits, and the script writes the merged document
    /// behind a stale-read guard (`src/fix.rs`). Such a step has no `run`; it is left out when the check found no
    /// additive edit (then the finding is fixed by hand).
    #[serde(default)]
    pub document: Option<String>,
    /// The step applies only when the check set this template value (e.g. `new_s3_policy_json`, set only when the
    /// policy does not exist yet); otherwise it is left out.
    #[serde(default)]
    pub when: Option<String>,
}

/// The parsed catalog.
#[derive(Debug)]
pub struct Catalog {
    /// Check documents in file-name order; `_common` first.
    pub checks: Vec<CheckDoc>,
    codes: BTreeMap<String, (usize, usize)>,
}

impl Catalog {
    /// The embedded catalog. Panics only if the embedded files are malformed, which the test suite rules out.
    pub fn get() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| Catalog::parse(files::FILES).expect("embedded catalog is valid (see tests)"))
    }

    /// Parses catalog files given as (file name, contents).
    pub fn parse(files: &[(&str, &str)]) -> Result<Catalog, String> {
        let mut checks = Vec::new();
        let mut codes = BTreeMap::new();
        for (name, text) in files {
            let doc: CheckDoc = toml::from_str(text).map_err(|e| format!("checks/{name}: {e}"))?;
            let expected = name.trim_end_matches(".toml");
            if doc.id != expected {
                return Err(format!("checks/{name}: id {:?} does not match the file name", doc.id));
            }
            for (j, c) in doc.codes.iter().enumerate() {
                for f in &c.fix {
                    let ok = match &f.document {
                        Some(kind) => {
                            ["trust-policy", "managed-policy", "inline-policy"].contains(&kind.as_str())
                                && f.run.is_empty()
                                && f.unless.is_none()
                        }
                        None => !f.run.is_empty(),
                    };
                    if !ok {
                        return Err(format!(
                            "checks/{name}: {}: a fix step has either run commands or a document \
                             (trust-policy, managed-policy, inline-policy), not both or neither",
                            c.code
                        ));
                    }
                }
                if codes.insert(c.code.clone(), (checks.len(), j)).is_some() {
                    return Err(format!("checks/{name}: code {} is defined twice", c.code));
                }
            }
            checks.push(doc);
        }
        Ok(Catalog { checks, codes })
    }

    /// The document of a check id.
    pub fn check(&self, id: &str) -> Option<&CheckDoc> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// A code's document and the id of the check (or `_common`) that defines it.
    pub fn code(&self, code: &str) -> Option<(&CheckDoc, &CodeDoc)> {
        // A name (`both-wirings`) is as good as its code.
        let code = code.parse::<Code>().map(Code::as_str).unwrap_or(code);
        let (i, j) = *self.codes.get(&code.to_ascii_uppercase())?;
        Some((&self.checks[i], &self.checks[i].codes[j]))
    }

    /// The document of a typed code. Every [`Code`] is generated from the catalog, so this cannot fail.
    pub fn doc(&self, code: Code) -> &CodeDoc {
        self.code(code.as_str())
            .map(|(_, d)| d)
            .expect("Code is generated from the embedded catalog")
    }

    /// Every code, in code order.
    pub fn codes(&self) -> impl Iterator<Item = (&CheckDoc, &CodeDoc)> {
        self.codes
            .values()
            .map(|&(i, j)| (&self.checks[i], &self.checks[i].codes[j]))
    }
}
