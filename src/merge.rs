//! Additive changes to IAM policy documents, for `--fix-script`.
//!
//! A role's trust policy and an S3 policy are shared documents: one role serves several clusters (the guide names
//! it after the bucket), one policy several buckets, and both carry statements the doctor knows nothing about (a
//! break-glass admin, session-tag pins). IAM only lets a document be written whole, so a fix that wrote the
//! guide's document would delete all of that. A fix is therefore a [`DocumentChange`]: the document exactly as the
//! doctor read it, and a list of [`Edit`]s that each only widen what one statement grants (add a statement, add an
//! action, add a value to a condition's list, make a literal `*` a wildcard). The script writes the read document
//! with the edits applied ([`apply`]), after checking that the live document is still the one read.
//!
//! Because every edit only widens, the edits of several findings (several clusters sharing a role) compose: each
//! finding's requirement still holds after the others' edits are applied, so they merge into one write. The one
//! exception is [`Edit::AddCondition`], a warning's fix that narrows a statement on purpose; the script keeps
//! warnings commented out.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Which IAM document a change writes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DocumentRef {
    /// A role's trust policy (`aws iam update-assume-role-policy`, or `create-role` when the role is missing).
    TrustPolicy {
        /// Role name.
        role: String,
    },
    /// The default version of a customer-managed policy (`aws iam create-policy-version --set-as-default`).
    ManagedPolicy {
        /// Policy ARN.
        policy_arn: String,
    },
    /// An inline policy of a role (`aws iam put-role-policy`).
    InlinePolicy {
        /// Role name.
        role: String,
        /// Inline policy name.
        policy_name: String,
    },
}

impl DocumentRef {
    /// The catalog's name for this kind of document (`document = "..."` in `[[codes.fix]]`).
    pub fn kind(&self) -> &'static str {
        match self {
            DocumentRef::TrustPolicy { .. } => "trust-policy",
            DocumentRef::ManagedPolicy { .. } => "managed-policy",
            DocumentRef::InlinePolicy { .. } => "inline-policy",
        }
    }

    /// For people: "the trust policy of role R".
    pub fn label(&self) -> String {
        match self {
            DocumentRef::TrustPolicy { role } => format!("the trust policy of role {role}"),
            DocumentRef::ManagedPolicy { policy_arn } => format!("the default version of policy {policy_arn}"),
            DocumentRef::InlinePolicy { role, policy_name } => {
                format!("the inline policy {policy_name} of role {role}")
            }
        }
    }
}

/// One additive change to a policy document. Statement indices count in the document as read (0-based); edits
/// never remove or reorder statements, so the indices stay valid however many edits are applied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Edit {
    /// Appends a statement, unless an equal one is already there.
    AddStatement {
        /// The statement, as IAM JSON.
        statement: Value,
    },
    /// Adds actions to a statement's `Action` list.
    AddActions {
        /// Statement index.
        index: usize,
        /// The actions.
        actions: Vec<String>,
    },
    /// Adds a value to `Condition[operator][key]`: the values of one key are alternatives (an OR), so the
    /// statement still matches everything it matched, and this value too.
    AddConditionValue {
        /// Statement index.
        index: usize,
        /// Condition operator, e.g. `StringEquals`.
        operator: String,
        /// Condition key.
        key: String,
        /// The value to accept as well.
        value: String,
    },
    /// Moves a condition key to another operator, e.g. `StringEquals` -> `StringLike`, where a `*` meant as a
    /// wildcard was compared literally. The values stay; every string a literal comparison matched, the wildcard
    /// comparison matches too.
    ChangeOperator {
        /// Statement index.
        index: usize,
        /// Condition key.
        key: String,
        /// Operator now.
        from: String,
        /// Operator after.
        to: String,
    },
    /// Adds a condition the statement did not have. It narrows the statement: only warnings' fixes use it (a
    /// missing `:aud` pin), and the script keeps those commented out.
    AddCondition {
        /// Statement index.
        index: usize,
        /// Condition operator.
        operator: String,
        /// Condition key.
        key: String,
        /// Its value.
        value: String,
    },
}

impl Edit {
    /// The statement of the read document this edit changes (`None`: it adds one).
    pub fn index(&self) -> Option<usize> {
        match self {
            Edit::AddStatement { .. } => None,
            Edit::AddActions { index, .. }
            | Edit::AddConditionValue { index, .. }
            | Edit::ChangeOperator { index, .. }
            | Edit::AddCondition { index, .. } => Some(*index),
        }
    }

    /// Whether the edit can only widen what the document grants.
    pub fn widens(&self) -> bool {
        !matches!(self, Edit::AddCondition { .. })
    }

    /// One line for the plan.
    pub fn describe(&self) -> String {
        match self {
            Edit::AddStatement { statement } => format!("adds {}", statement_summary(statement)),
            Edit::AddActions { actions, .. } => format!("adds action(s) {}", actions.join(", ")),
            Edit::AddConditionValue {
                operator, key, value, ..
            } => format!("{operator} {key} also accepts {value:?}"),
            Edit::ChangeOperator { key, from, to, .. } => format!("{key} compared with {to} instead of {from}"),
            Edit::AddCondition {
                operator, key, value, ..
            } => format!("new condition {operator} {key} = {value:?}"),
        }
    }
}

/// A change to one IAM document: the document as the doctor read it, and the edits that fix a finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DocumentChange {
    /// The document.
    pub document: DocumentRef,
    /// The document as the doctor read it (URL-decoded JSON); absent when it does not exist yet.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read: Option<Value>,
    /// The edits, applied in order.
    pub edits: Vec<Edit>,
}

/// An edit that does not fit the document (a statement index out of range, a condition moved onto a key the
/// target operator already has).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

/// The empty policy a new document starts from.
pub fn empty_document() -> Value {
    json!({"Version": "2012-10-17", "Statement": []})
}

/// `read` (or an empty document) with `edits` applied. Everything the edits do not touch is kept as written:
/// other statements, their order and key order, `Version`, `Id`. A single `Statement` object becomes a one-element
/// list when a statement is added (the same policy to IAM).
pub fn apply(read: Option<&Value>, edits: &[Edit]) -> Result<Value, MergeError> {
    let mut doc = read.cloned().unwrap_or_else(empty_document);
    let Some(root) = doc.as_object_mut() else {
        return Err(MergeError("the document is not a JSON object".into()));
    };
    let statements = root.entry("Statement").or_insert_with(|| Value::Array(vec![]));
    if statements.is_object() {
        *statements = Value::Array(vec![statements.take()]);
    }
    let Some(list) = statements.as_array_mut() else {
        return Err(MergeError("Statement is neither a list nor an object".into()));
    };
    for edit in edits {
        if let Some(i) = edit.index() {
            let Some(st) = list.get(i).and_then(Value::as_object) else {
                return Err(MergeError(format!("the document has no statement #{}", i + 1)));
            };
            // Widening a Deny would deny more: edits change Allow statements only.
            if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
                return Err(MergeError(format!("statement #{} is not an Allow statement", i + 1)));
            }
        }
        match edit {
            Edit::AddStatement { statement } => {
                // The promise that a merge only widens rests on this.
                if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                    return Err(MergeError("a fix adds Allow statements only".into()));
                }
                if !list.contains(statement) {
                    list.push(statement.clone());
                }
            }
            Edit::AddActions { index, actions } => {
                let st = list[*index].as_object_mut().expect("checked above");
                let action = st.entry("Action").or_insert_with(|| Value::Array(vec![]));
                for a in actions {
                    add_value(action, a);
                }
            }
            Edit::AddConditionValue {
                index,
                operator,
                key,
                value,
            }
            | Edit::AddCondition {
                index,
                operator,
                key,
                value,
            } => {
                let block = condition_block(list[*index].as_object_mut().expect("checked above"), operator)?;
                match find_key(block, key) {
                    Some(values) => add_value(values, value),
                    // A new condition narrows the statement: only AddCondition may make one.
                    None if matches!(edit, Edit::AddCondition { .. }) => {
                        block.insert(key.clone(), Value::String(value.clone()));
                    }
                    None => {
                        return Err(MergeError(format!(
                            "statement #{} has no {operator} condition on {key}",
                            index + 1
                        )));
                    }
                }
            }
            Edit::ChangeOperator { index, key, from, to } => {
                let st = list[*index].as_object_mut().expect("checked above");
                let from_block = condition_block(st, from)?;
                let Some(name) = from_block.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned() else {
                    return Err(MergeError(format!(
                        "statement #{} has no {from} condition on {key}",
                        index + 1
                    )));
                };
                let values = from_block.remove(&name).expect("found above");
                let emptied = from_block.is_empty();
                if emptied {
                    condition_map(st)?.remove(from);
                }
                let to_block = condition_block(st, to)?;
                if find_key(to_block, key).is_some() {
                    return Err(MergeError(format!(
                        "statement #{} already has a {to} condition on {key}",
                        index + 1
                    )));
                }
                to_block.insert(name, values);
            }
        }
    }
    Ok(doc)
}

fn condition_map(st: &mut Map<String, Value>) -> Result<&mut Map<String, Value>, MergeError> {
    st.entry("Condition")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| MergeError("Condition is not an object".into()))
}

fn condition_block<'a>(
    st: &'a mut Map<String, Value>,
    operator: &str,
) -> Result<&'a mut Map<String, Value>, MergeError> {
    condition_map(st)?
        .entry(operator)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| MergeError(format!("Condition {operator} is not an object")))
}

/// Condition keys compare case-insensitively in IAM.
fn find_key<'a>(block: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    block
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// Adds `value` to a string-or-list element, keeping the string form when nothing is added.
fn add_value(slot: &mut Value, value: &str) {
    match slot {
        Value::Array(list) => {
            if !list.iter().any(|v| v.as_str() == Some(value)) {
                list.push(Value::String(value.to_string()));
            }
        }
        Value::String(s) if s == value => {}
        other => {
            let old = other.take();
            *other = Value::Array(vec![old, Value::String(value.to_string())]);
        }
    }
}

/// The statements of a document, as a list (IAM allows a single object).
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => vec![o],
        _ => vec![],
    }
}

/// "statement #2 (Sid Admin): Allow AWS arn:...:root sts:AssumeRole": enough for a reviewer to recognise it.
pub fn statement_summary(st: &Value) -> String {
    let list = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let mut out = String::new();
    if let Some(sid) = st.get("Sid").and_then(Value::as_str) {
        let _ = write!(out, "Sid {sid}: ");
    }
    out.push_str(st.get("Effect").and_then(Value::as_str).unwrap_or("?"));
    for key in ["Principal", "NotPrincipal"] {
        match st.get(key) {
            Some(Value::Object(m)) => {
                for (kind, who) in m {
                    let _ = write!(out, " {key} {kind} {}", list(Some(who)));
                }
            }
            Some(v) => {
                let _ = write!(out, " {key} {}", list(Some(v)));
            }
            None => {}
        }
    }
    for key in ["Action", "NotAction", "Resource", "NotResource"] {
        if st.get(key).is_some() {
            let _ = write!(out, " {key} {}", list(st.get(key)));
        }
    }
    if let Some(Value::Object(ops)) = st.get("Condition") {
        for (op, keys) in ops {
            if let Value::Object(keys) = keys {
                for (k, v) in keys {
                    let _ = write!(out, " if {op} {k} {}", list(Some(v)));
                }
            }
        }
    }
    out
}

/// The reviewer's plan of a change, as `terraform plan` shows one: each statement of the merged document marked
/// added (`+`), changed (`~`, with what changed) or kept (`=`).
pub fn plan(read: Option<&Value>, merged: &Value, edits: &[Edit]) -> Vec<String> {
    let before = read.map(statements).unwrap_or_default();
    let mut out = Vec::new();
    for (i, st) in statements(merged).into_iter().enumerate() {
        let n = i + 1;
        if i >= before.len() {
            out.push(format!("+ added   #{n}: {}", statement_summary(st)));
            continue;
        }
        let changes: Vec<String> = edits
            .iter()
            .filter(|e| e.index() == Some(i))
            .map(Edit::describe)
            .collect();
        if changes.is_empty() || before[i] == st {
            out.push(format!("= kept    #{n}: {}", statement_summary(st)));
        } else {
            out.push(format!("~ changed #{n}: {}", statement_summary(before[i])));
            for c in changes {
                out.push(format!("            {c}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Decision, Known, Policy, Request};
    use proptest::prelude::*;

    #[test]
    fn edits_keep_what_they_do_not_touch() {
        let read = json!({"Version": "2012-10-17", "Id": "x", "Statement": {
            "Sid": "Irsa", "Effect": "Allow", "Principal": {"Federated": "p"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"P:sub": "system:serviceaccount:a:sa", "P:aud": "sts.amazonaws.com"}}}});
        let edits = vec![
            Edit::AddConditionValue {
                index: 0,
                operator: "StringEquals".into(),
                key: "p:SUB".into(),
                value: "system:serviceaccount:b:sa".into(),
            },
            Edit::AddStatement {
                statement: json!({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"}, "Action": ["sts:AssumeRole", "sts:TagSession"]}),
            },
        ];
        let merged = apply(Some(&read), &edits).unwrap();
        assert_eq!(merged["Id"], "x");
        assert_eq!(
            merged["Statement"][0]["Condition"]["StringEquals"]["P:sub"],
            json!(["system:serviceaccount:a:sa", "system:serviceaccount:b:sa"])
        );
        assert_eq!(
            merged["Statement"][0]["Condition"]["StringEquals"]["P:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(statements(&merged).len(), 2);
        // Applying the same edits again changes nothing.
        let twice = apply(Some(&merged), &edits).unwrap();
        assert_eq!(twice, merged);
        let plan = plan(Some(&read), &merged, &edits);
        assert!(plan[0].starts_with("~ changed #1: Sid Irsa"), "{plan:?}");
        assert!(plan.iter().any(|l| l.starts_with("+ added   #2")), "{plan:?}");
    }

    #[test]
    fn a_literal_star_becomes_a_wildcard_and_misfits_are_errors() {
        let read = json!({"Statement": [{"Effect": "Allow", "Action": "a",
            "Condition": {"StringEquals": {"k": "x*", "j": "y"}}}]});
        let merged = apply(
            Some(&read),
            &[Edit::ChangeOperator {
                index: 0,
                key: "k".into(),
                from: "StringEquals".into(),
                to: "StringLike".into(),
            }],
        )
        .unwrap();
        assert_eq!(
            merged["Statement"][0]["Condition"],
            json!({"StringEquals": {"j": "y"}, "StringLike": {"k": "x*"}})
        );
        let missing = apply(
            Some(&read),
            &[Edit::AddActions {
                index: 3,
                actions: vec!["b".into()],
            }],
        );
        assert!(missing.is_err());
    }

    // Generated documents: statements over a few principals, actions and condition values.
    fn statement() -> impl Strategy<Value = Value> {
        let principal = prop_oneof![
            Just(json!({"Service": "pods.eks.amazonaws.com"})),
            Just(json!({"Federated": "arn:aws:iam::1:oidc-provider/p"})),
            Just(json!({"AWS": "arn:aws:iam::1:root"})),
        ];
        let action = prop_oneof![
            Just(json!("sts:AssumeRole")),
            Just(json!(["sts:AssumeRole"])),
            Just(json!("sts:TagSession")),
            Just(json!("sts:AssumeRoleWithWebIdentity")),
            Just(json!(["s3:GetObject", "s3:ListBucket"])),
        ];
        let condition = prop_oneof![
            Just(Value::Null),
            Just(json!({"StringEquals": {"p:sub": "system:serviceaccount:a:sa"}})),
            Just(json!({"StringEquals": {"p:sub": ["system:serviceaccount:b:sa"], "p:aud": "sts.amazonaws.com"}})),
            Just(json!({"StringLike": {"p:sub": "system:serviceaccount:c:*"}})),
        ];
        let effect = prop_oneof![4 => Just("Allow"), 1 => Just("Deny")];
        (principal, action, condition, effect).prop_map(|(p, a, c, e)| {
            let mut st = json!({"Effect": e, "Principal": p, "Action": a});
            if !c.is_null() {
                st["Condition"] = c;
            }
            st
        })
    }

    fn edit(n: usize) -> impl Strategy<Value = Edit> {
        let index = 0..n.max(1);
        prop_oneof![
            statement().prop_map(|mut statement| {
                statement["Effect"] = json!("Allow");
                Edit::AddStatement { statement }
            }),
            (
                index.clone(),
                prop_oneof![Just("sts:TagSession"), Just("sts:AssumeRole"), Just("s3:PutObject")]
            )
                .prop_map(|(index, a)| Edit::AddActions {
                    index,
                    actions: vec![a.to_string()]
                }),
            (
                index.clone(),
                prop_oneof![Just("system:serviceaccount:z:sa"), Just("system:serviceaccount:a:sa")]
            )
                .prop_map(|(index, v)| Edit::AddConditionValue {
                    index,
                    operator: "StringEquals".into(),
                    key: "p:sub".into(),
                    value: v.into()
                }),
            index.prop_map(|index| Edit::ChangeOperator {
                index,
                key: "p:sub".into(),
                from: "StringEquals".into(),
                to: "StringLike".into()
            }),
        ]
    }

    fn doc_and_edits() -> impl Strategy<Value = (Value, Vec<Edit>)> {
        prop::collection::vec(statement(), 0..5).prop_flat_map(|sts| {
            let n = sts.len();
            (
                Just(json!({"Version": "2012-10-17", "Statement": sts})),
                prop::collection::vec(edit(n), 1..5),
            )
        })
    }

    /// Every request the generated documents can decide, with the condition keys known.
    fn requests() -> Vec<(&'static str, &'static str, &'static str, &'static str)> {
        let mut out = Vec::new();
        for (kind, id) in [
            ("Service", "pods.eks.amazonaws.com"),
            ("Federated", "arn:aws:iam::1:oidc-provider/p"),
            ("AWS", "arn:aws:iam::1:root"),
        ] {
            for action in [
                "sts:AssumeRole",
                "sts:TagSession",
                "sts:AssumeRoleWithWebIdentity",
                "s3:PutObject",
            ] {
                for sub in [
                    "system:serviceaccount:a:sa",
                    "system:serviceaccount:b:sa",
                    "system:serviceaccount:c:x",
                    "system:serviceaccount:z:sa",
                ] {
                    out.push((kind, id, action, sub));
                }
            }
        }
        out
    }

    proptest! {
        /// The merge's promise: every statement no edit names is kept exactly, nothing is removed or reordered,
        /// and whatever the read document allowed, the merged one still allows.
        #[test]
        fn merged_documents_keep_and_grant_at_least_the_read_one((read, edits) in doc_and_edits()) {
            let Ok(merged) = apply(Some(&read), &edits) else { return Ok(()) };
            let before = statements(&read);
            let after = statements(&merged);
            prop_assert!(after.len() >= before.len());
            for (i, st) in before.iter().enumerate() {
                if !edits.iter().any(|e| e.index() == Some(i)) {
                    prop_assert_eq!(*st, after[i], "statement #{} kept", i + 1);
                }
            }
            let (read_p, merged_p) = (Policy::from_value(&read), Policy::from_value(&merged));
            for (kind, id, action, sub) in requests() {
                let keys = [("p:sub".to_string(), sub.to_string()), ("p:aud".to_string(), "sts.amazonaws.com".to_string())].into();
                let req = Request { principal: Some((kind, id)), action, resource: None, known: Known::Keys(&keys) };
                let was = crate::policy::decide(std::slice::from_ref(&read_p), &req).decision;
                let now = crate::policy::decide(std::slice::from_ref(&merged_p), &req).decision;
                if was == Decision::Allowed {
                    prop_assert_eq!(now, Decision::Allowed, "{} {} {} {}", kind, action, sub, merged);
                }
            }
        }
    }
}
