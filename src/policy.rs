//! IAM policy documents and the part of IAM's evaluation logic the doctor needs: identity policies (with a
//! permissions boundary) for S3 access, and trust policies for who may assume the role.
//!
//! Semantics followed (IAM User Guide, "Policy evaluation logic"): an explicit Deny wins over any Allow; nothing
//! is allowed unless some statement allows it; `*` and `?` are wildcards in actions (case-insensitive) and
//! resources (case-sensitive); `NotAction`/`NotResource` match everything except their list. Conditions are
//! evaluated only where the doctor knows the request context; elsewhere the result says "conditional".

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// A policy document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy document is not valid JSON: {0}")]
pub struct PolicyError(pub String);

/// Parses a policy document as IAM returns it: URL-encoded (RFC 3986) by real AWS, plain JSON from some
/// emulators. Plain JSON is tried first, so a document is never decoded twice.
pub fn parse_document(raw: &str) -> Result<Policy, PolicyError> {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(first) => {
            let decoded = percent_encoding::percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| PolicyError(first.to_string()))?;
            serde_json::from_str(&decoded).map_err(|e| PolicyError(e.to_string()))?
        }
    };
    Ok(Policy::from_value(&value))
}

/// Allow or Deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Effect {
    /// Allow.
    Allow,
    /// Deny.
    Deny,
}

/// A list that matches its entries, or everything but them (`NotAction`, `NotResource`, `NotPrincipal`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Matcher {
    /// The element was absent.
    Absent,
    /// `Action` / `Resource`.
    Only(Vec<String>),
    /// `NotAction` / `NotResource`.
    AllBut(Vec<String>),
}

/// One condition: operator, key, values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// e.g. `StringEquals`, `ForAnyValue:StringLike`, `StringLikeIfExists`.
    pub operator: String,
    /// e.g. `oidc.eks.us-west-2.amazonaws.com/id/X:sub`.
    pub key: String,
    /// Values.
    pub values: Vec<String>,
}

/// One statement. It serializes as the document wrote it (`Sid`, `Effect`, `Action`, ...), since that is what a
/// person reading a report's evidence recognises; the parsed fields are for evaluation only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `Sid`, if any.
    pub sid: Option<String>,
    /// Effect; `None` when the document's effect is neither Allow nor Deny (such a statement is ignored).
    pub effect: Option<Effect>,
    /// Actions.
    pub action: Matcher,
    /// Resources.
    pub resource: Matcher,
    /// Principals by type (`Service`, `Federated`, `AWS`, `*`).
    pub principal: BTreeMap<String, Vec<String>>,
    /// The principals came from `NotPrincipal`: the statement applies to everyone but them.
    pub not_principal: bool,
    /// Conditions.
    pub conditions: Vec<Condition>,
    /// The statement as the document wrote it.
    pub source: Value,
}

/// A parsed policy. It serializes as the source document (URL-decoded), in IAM's own shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Statements.
    pub statements: Vec<Statement>,
    /// The document as IAM returned it (decoded), or `null` for a policy built in code.
    pub source: Value,
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.source.is_null() {
            serde_json::json!({ "Statement": self.statements }).serialize(s)
        } else {
            self.source.serialize(s)
        }
    }
}

impl Serialize for Statement {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.source.serialize(s)
    }
}

/// A string or a list of strings, as IAM allows almost everywhere.
fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Number(n)) => vec![n.to_string()],
        _ => vec![],
    }
}

fn matcher(st: &serde_json::Map<String, Value>, yes: &str, no: &str) -> Matcher {
    if st.contains_key(yes) {
        Matcher::Only(strings(st.get(yes)))
    } else if st.contains_key(no) {
        Matcher::AllBut(strings(st.get(no)))
    } else {
        Matcher::Absent
    }
}

impl Policy {
    /// Reads a policy from JSON; unknown or malformed parts are skipped rather than fatal, since a statement
    /// the doctor cannot read must not make a whole document unreadable.
    pub fn from_value(v: &Value) -> Policy {
        let stmts: Vec<&Value> = match v.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(o @ Value::Object(_)) => vec![o],
            _ => vec![],
        };
        let statements = stmts
            .into_iter()
            .filter_map(Value::as_object)
            .map(|st| {
                let effect = match st.get("Effect").and_then(Value::as_str) {
                    Some("Allow") => Some(Effect::Allow),
                    Some("Deny") => Some(Effect::Deny),
                    _ => None,
                };
                let principal = match st.get("Principal").or_else(|| st.get("NotPrincipal")) {
                    Some(Value::String(s)) => BTreeMap::from([("*".to_string(), vec![s.clone()])]),
                    Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), strings(Some(v)))).collect(),
                    _ => BTreeMap::new(),
                };
                let mut conditions = Vec::new();
                if let Some(Value::Object(ops)) = st.get("Condition") {
                    for (op, keys) in ops {
                        if let Value::Object(keys) = keys {
                            for (key, vals) in keys {
                                conditions.push(Condition {
                                    operator: op.clone(),
                                    key: key.clone(),
                                    values: strings(Some(vals)),
                                });
                            }
                        }
                    }
                }
                Statement {
                    sid: st.get("Sid").and_then(Value::as_str).map(str::to_string),
                    effect,
                    action: matcher(st, "Action", "NotAction"),
                    resource: matcher(st, "Resource", "NotResource"),
                    principal,
                    not_principal: !st.contains_key("Principal") && st.contains_key("NotPrincipal"),
                    conditions,
                    source: Value::Object(st.clone()),
                }
            })
            .collect();
        Policy {
            statements,
            source: v.clone(),
        }
    }
}

/// IAM wildcard matching: `*` is any run of characters (also `/` and `:`), `?` any one character.
///
/// Hand-written on purpose: glob crates give `[`, `{` and `/` meanings IAM does not have.
pub fn wildcard_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| {
        if ignore_case {
            s.to_lowercase().chars().collect()
        } else {
            s.chars().collect::<Vec<_>>()
        }
    };
    let (p, t) = (fold(pattern), fold(text));
    let (mut pi, mut ti) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

impl Matcher {
    /// Whether `value` is matched (for `AllBut`: not excluded).
    pub fn matches(&self, value: &str, ignore_case: bool) -> bool {
        match self {
            Matcher::Absent => false,
            Matcher::Only(list) => list.iter().any(|p| wildcard_match(p, value, ignore_case)),
            Matcher::AllBut(list) => !list.iter().any(|p| wildcard_match(p, value, ignore_case)),
        }
    }
}

/// How a set of policies decides one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Some statement allows it unconditionally, and nothing denies it.
    Allowed,
    /// Only statements with conditions allow it (the doctor cannot tell whether they hold for the pod).
    ConditionallyAllowed,
    /// A Deny statement with conditions matches (it may or may not apply).
    ConditionallyDenied,
    /// An unconditional Deny matches.
    ExplicitDeny,
    /// Nothing allows it.
    ImplicitDeny,
}

/// What the doctor knows of a request's condition keys.
#[derive(Debug, Clone, Copy)]
pub enum Known<'a> {
    /// Nothing: every condition may or may not hold (identity policies, whose request context varies per call).
    Nothing,
    /// These keys have these values (case-insensitive keys). A condition on any other key is unknown.
    Keys(&'a BTreeMap<String, String>),
}

/// A request as IAM evaluates it against one policy.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// For resource-based policies (a role's trust policy): the caller's principal type and id, e.g.
    /// (`Service`, `pods.eks.amazonaws.com`) or (`Federated`, the OIDC provider ARN). `None` for identity policies,
    /// which have no `Principal`.
    pub principal: Option<(&'a str, &'a str)>,
    /// The action, e.g. `sts:AssumeRole`.
    pub action: &'a str,
    /// The resource ARN; `None` where the policy names none (a trust policy is attached to its resource).
    pub resource: Option<&'a str>,
    /// The condition keys the doctor knows.
    pub known: Known<'a>,
}

/// A [`Decision`] and the statements (indices into the policies' statements, in order) that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The decision.
    pub decision: Decision,
    /// The deciding statements: the matching Deny for a denial, the matching Allow statements otherwise.
    pub statements: Vec<usize>,
}

/// How one statement applies to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// It does not (action, resource, principal or a condition rules it out).
    No,
    /// It does, whatever the unknown conditions say.
    Yes,
    /// It does if conditions the doctor cannot evaluate hold.
    Maybe,
}

impl Statement {
    /// Whether the statement's principal element covers the request's principal.
    fn covers(&self, principal: Option<(&str, &str)>) -> bool {
        let Some((kind, id)) = principal else {
            // Identity policies carry no Principal.
            return true;
        };
        // `"Principal": "*"` and `"Principal": {"AWS": "*"}` are the same: everyone (IAM JSON policy reference,
        // "Principal": "All principals").
        let listed = self.principal.get("*").is_some_and(|v| v.iter().any(|p| p == "*"))
            || self.principal.get("AWS").is_some_and(|v| v.iter().any(|p| p == "*"))
            || self
                .principal
                .get(kind)
                .is_some_and(|v| v.iter().any(|p| wildcard_match(p, id, true)));
        listed != self.not_principal
    }

    /// How the statement applies to `req`.
    pub fn applies(&self, req: &Request) -> Applies {
        if !self.action.matches(req.action, true)
            || !req.resource.is_none_or(|r| self.resource.matches(r, false))
            || !self.covers(req.principal)
        {
            return Applies::No;
        }
        let mut maybe = false;
        for c in &self.conditions {
            let result = match req.known {
                Known::Nothing => CondResult::Unknown,
                Known::Keys(keys) => eval_condition(c, keys),
            };
            match result {
                CondResult::False => return Applies::No,
                CondResult::Unknown => maybe = true,
                CondResult::True => {}
            }
        }
        if maybe { Applies::Maybe } else { Applies::Yes }
    }
}

/// Decides `req` against `policies` as IAM does: an applying Deny wins, else an applying Allow allows, else the
/// request is implicitly denied. Statements whose conditions the doctor cannot evaluate make the decision
/// conditional, never a pass.
pub fn decide(policies: &[Policy], req: &Request) -> Verdict {
    let mut allow = Vec::new();
    let mut maybe_allow = Vec::new();
    let mut maybe_deny = Vec::new();
    for (i, st) in policies.iter().flat_map(|p| &p.statements).enumerate() {
        let Some(effect) = st.effect else { continue };
        match (effect, st.applies(req)) {
            (_, Applies::No) => {}
            (Effect::Deny, Applies::Yes) => {
                return Verdict {
                    decision: Decision::ExplicitDeny,
                    statements: vec![i],
                };
            }
            (Effect::Deny, Applies::Maybe) => maybe_deny.push(i),
            (Effect::Allow, Applies::Yes) => allow.push(i),
            (Effect::Allow, Applies::Maybe) => maybe_allow.push(i),
        }
    }
    let (decision, statements) = if allow.is_empty() && maybe_allow.is_empty() {
        (Decision::ImplicitDeny, vec![])
    } else if !maybe_deny.is_empty() {
        (Decision::ConditionallyDenied, maybe_deny)
    } else if !allow.is_empty() {
        (Decision::Allowed, allow)
    } else {
        (Decision::ConditionallyAllowed, maybe_allow)
    };
    Verdict { decision, statements }
}

/// Evaluates identity-based `policies` for `action` on `resource`. Their request context varies per call, so
/// every condition counts as unknown.
pub fn evaluate(policies: &[Policy], action: &str, resource: &str) -> Decision {
    decide(
        policies,
        &Request {
            principal: None,
            action,
            resource: Some(resource),
            known: Known::Nothing,
        },
    )
    .decision
}

/// Evaluates with a permissions boundary: both the identity policies and the boundary must allow.
pub fn evaluate_with_boundary(
    policies: &[Policy],
    boundary: Option<&Policy>,
    action: &str,
    resource: &str,
) -> Decision {
    let identity = evaluate(policies, action, resource);
    let Some(boundary) = boundary else { return identity };
    let bound = evaluate(std::slice::from_ref(boundary), action, resource);
    use Decision::*;
    match (identity, bound) {
        (ExplicitDeny, _) | (_, ExplicitDeny) => ExplicitDeny,
        (ImplicitDeny, _) | (_, ImplicitDeny) => ImplicitDeny,
        (ConditionallyDenied, _) | (_, ConditionallyDenied) => ConditionallyDenied,
        (ConditionallyAllowed, _) | (_, ConditionallyAllowed) => ConditionallyAllowed,
        (Allowed, Allowed) => Allowed,
    }
}

/// The result of evaluating one condition against what the doctor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CondResult {
    /// Holds.
    True,
    /// Does not hold.
    False,
    /// The doctor does not know the key's value, or the operator.
    Unknown,
}

/// The policy with the principals that name a role written as the role's ARN, so that [`decide`] matches them:
/// its account (`123...`, `arn:<partition>:iam::123...:root`) and its sessions
/// (`arn:<partition>:sts::123...:assumed-role/ROLE/...`) cover the role in a resource-based policy (a bucket
/// policy, a trust policy), as IAM reads them (IAM JSON policy reference, "AWS account principals").
pub fn principals_as_role(doc: &Policy, role_arn: &str, account: &str) -> Policy {
    let role_name = role_arn.rsplit('/').next().unwrap_or("");
    let partition = role_arn.split(':').nth(1).unwrap_or("aws");
    let mut out = doc.clone();
    for st in &mut out.statements {
        if let Some(aws) = st.principal.get_mut("AWS") {
            for p in aws.iter_mut() {
                let is_account = p == account || *p == format!("arn:{partition}:iam::{account}:root");
                let is_session = p.starts_with(&format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/"));
                if is_account || is_session {
                    *p = role_arn.to_string();
                }
            }
        }
    }
    out
}

/// A context value meaning "the request does not carry this key".
pub const ABSENT: &str = "\u{0}absent";

/// Evaluates a string condition against known context values (key -> value). Keys compare case-insensitively,
/// as IAM does. A key the doctor does not know is unknown, `...IfExists` or not: the real request may well carry
/// it (`aws:SourceIp`, `aws:SourceVpc`, `sts:RoleSessionName`, ...), so assuming it absent could pass a condition
/// that excludes the pod.
pub fn eval_condition(c: &Condition, context: &BTreeMap<String, String>) -> CondResult {
    // A key known to be absent from the request: `...IfExists` and the negated operators hold, the others do not
    // (IAM JSON policy reference, "Condition operators": a missing key).
    if context
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(&c.key) && v == ABSENT)
    {
        let negated = c.operator.contains("Not");
        return if c.operator.ends_with("IfExists") || negated {
            CondResult::True
        } else {
            CondResult::False
        };
    }
    let value = context
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(&c.key))
        .map(|(_, v)| v.as_str());
    let op = c
        .operator
        .strip_prefix("ForAnyValue:")
        .or_else(|| c.operator.strip_prefix("ForAllValues:"))
        .unwrap_or(&c.operator);
    let op = op.strip_suffix("IfExists").unwrap_or(op);
    let Some(value) = value else {
        return CondResult::Unknown;
    };
    let any = |f: &dyn Fn(&str) -> bool| c.values.iter().any(|v| f(v));
    let result = match op {
        "StringEquals" => any(&|v| v == value),
        "StringNotEquals" => !any(&|v| v == value),
        "StringEqualsIgnoreCase" => any(&|v| v.eq_ignore_ascii_case(value)),
        "StringNotEqualsIgnoreCase" => !any(&|v| v.eq_ignore_ascii_case(value)),
        "StringLike" => any(&|v| wildcard_match(v, value, false)),
        "StringNotLike" => !any(&|v| wildcard_match(v, value, false)),
        // IAM matches each ARN component with `*` and `?` for both operators.
        "ArnEquals" | "ArnLike" => any(&|v| wildcard_match(v, value, false)),
        "ArnNotEquals" | "ArnNotLike" => !any(&|v| wildcard_match(v, value, false)),
        "Bool" => any(&|v| v.eq_ignore_ascii_case(value)),
        _ => return CondResult::Unknown,
    };
    if result { CondResult::True } else { CondResult::False }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pol(v: Value) -> Policy {
        Policy::from_value(&v)
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("s3:*", "s3:GetObject", false));
        assert!(wildcard_match("S3:get*", "s3:GetObject", true));
        assert!(!wildcard_match("S3:get*", "s3:GetObject", false));
        assert!(wildcard_match("arn:aws:s3:::b/*", "arn:aws:s3:::b/*", false));
        assert!(!wildcard_match("arn:aws:s3:::b/x/*", "arn:aws:s3:::b/*", false));
        assert!(wildcard_match("arn:aws:s3:::b?", "arn:aws:s3:::b1", false));
        assert!(!wildcard_match("arn:aws:s3:::b?", "arn:aws:s3:::b", false));
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("a*b*c", "aXXbYYc", false));
        assert!(!wildcard_match("a*b*c", "aXXbYY", false));
    }

    #[test]
    fn url_encoded_and_plain_documents() {
        let plain = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        let encoded: String =
            percent_encoding::utf8_percent_encode(plain, percent_encoding::NON_ALPHANUMERIC).to_string();
        assert_eq!(parse_document(plain).unwrap(), parse_document(&encoded).unwrap());
        assert_eq!(parse_document(plain).unwrap().statements.len(), 1);
        assert!(parse_document("%7Bnot json").is_err());
    }

    #[test]
    fn deny_wins_and_not_action() {
        let allow = pol(serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}));
        let deny = pol(
            serde_json::json!({"Statement": [{"Effect": "Deny", "NotAction": "s3:List*", "Resource": "arn:aws:s3:::b/*"}]}),
        );
        assert_eq!(
            evaluate(std::slice::from_ref(&allow), "s3:GetObject", "arn:aws:s3:::b/*"),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&[allow.clone(), deny.clone()], "s3:GetObject", "arn:aws:s3:::b/*"),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(&[allow.clone(), deny], "s3:ListBucket", "arn:aws:s3:::b"),
            Decision::Allowed
        );
        let cond = pol(
            serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-1"}}}]}),
        );
        assert_eq!(
            evaluate(&[cond], "s3:GetObject", "arn:aws:s3:::b/*"),
            Decision::ConditionallyAllowed
        );
        assert_eq!(
            evaluate(&[], "s3:GetObject", "arn:aws:s3:::b/*"),
            Decision::ImplicitDeny
        );
        let not_res = pol(
            serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::other*"}]}),
        );
        assert_eq!(
            evaluate(std::slice::from_ref(&not_res), "s3:GetObject", "arn:aws:s3:::b/*"),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&[not_res], "s3:GetObject", "arn:aws:s3:::other/*"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn boundary_must_allow_too() {
        let allow = pol(serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}));
        let boundary =
            pol(serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}));
        assert_eq!(
            evaluate_with_boundary(std::slice::from_ref(&allow), Some(&boundary), "s3:GetObject", "x"),
            Decision::Allowed
        );
        assert_eq!(
            evaluate_with_boundary(&[allow], Some(&boundary), "s3:PutObject", "x"),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn conditions() {
        let ctx: BTreeMap<String, String> =
            [("p:sub".to_string(), "system:serviceaccount:default:sa".to_string())].into();
        let c = |op: &str, v: &str| Condition {
            operator: op.into(),
            key: "P:SUB".into(),
            values: vec![v.into()],
        };
        assert_eq!(
            eval_condition(&c("StringEquals", "system:serviceaccount:default:sa"), &ctx),
            CondResult::True
        );
        assert_eq!(
            eval_condition(&c("StringEquals", "system:serviceaccount:default:*"), &ctx),
            CondResult::False
        );
        assert_eq!(
            eval_condition(&c("StringLike", "system:serviceaccount:default:*"), &ctx),
            CondResult::True
        );
        assert_eq!(eval_condition(&c("NumericLessThan", "3"), &ctx), CondResult::Unknown);
        let other = Condition {
            operator: "StringEquals".into(),
            key: "aws:SourceAccount".into(),
            values: vec!["1".into()],
        };
        assert_eq!(eval_condition(&other, &ctx), CondResult::Unknown);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            "[a-zA-Z0-9:*?/ -]{0,12}".prop_map(Value::String),
            prop::sample::select(vec!["Allow", "Deny", "s3:*", "s3:GetObject", "*", "arn:aws:s3:::b/*"])
                .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "Statement",
                        "Effect",
                        "Action",
                        "NotAction",
                        "Resource",
                        "NotResource",
                        "Principal",
                        "Condition",
                        "Sid",
                        "StringEquals",
                        "x"
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..5
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn arb_statement() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["Allow", "Deny"]),
            prop::sample::select(vec!["s3:*", "s3:Get*", "s3:GetObject", "s3:ListBucket", "*", "iam:*"]),
            prop::sample::select(vec![
                "*",
                "arn:aws:s3:::b",
                "arn:aws:s3:::b/*",
                "arn:aws:s3:::b*",
                "arn:aws:s3:::c/*",
            ]),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(e, a, r, not_action, conditional)| {
                let mut st = serde_json::json!({"Effect": e, "Resource": r});
                st[if not_action { "NotAction" } else { "Action" }] = Value::String(a.into());
                if conditional {
                    st["Condition"] = serde_json::json!({"StringEquals": {"aws:SourceVpce": "vpce-1"}});
                }
                st
            })
    }

    /// A trust-policy statement: principals, actions and conditions on the IRSA keys (known) or others (unknown).
    fn arb_trust_statement() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["Allow", "Deny"]),
            prop::sample::select(vec![
                serde_json::json!({"Service": "pods.eks.amazonaws.com"}),
                serde_json::json!({"Federated": "arn:aws:iam::1:oidc-provider/p"}),
                serde_json::json!({"Federated": "arn:aws:iam::1:oidc-provider/other"}),
                serde_json::json!("*"),
            ]),
            any::<bool>(),
            prop::sample::select(vec![
                "sts:*",
                "sts:AssumeRole",
                "sts:TagSession",
                "sts:AssumeRoleWithWebIdentity",
            ]),
            prop::sample::select(vec![
                Value::Null,
                serde_json::json!({"StringEquals": {"p:sub": "system:serviceaccount:default:sa"}}),
                serde_json::json!({"StringLike": {"p:sub": "system:serviceaccount:*"}}),
                serde_json::json!({"StringEquals": {"p:aud": "other"}}),
                serde_json::json!({"StringEqualsIfExists": {"aws:SourceAccount": "1"}}),
                serde_json::json!({"StringEquals": {"aws:SourceAccount": "1"}}),
            ]),
        )
            .prop_map(|(e, principal, not_principal, a, cond)| {
                let mut st = serde_json::json!({"Effect": e, "Action": a});
                st[if not_principal { "NotPrincipal" } else { "Principal" }] = principal;
                if !cond.is_null() {
                    st["Condition"] = cond;
                }
                st
            })
    }

    fn rank(d: Decision) -> u8 {
        match d {
            Decision::Allowed => 4,
            Decision::ConditionallyAllowed => 3,
            Decision::ConditionallyDenied => 2,
            Decision::ImplicitDeny => 1,
            Decision::ExplicitDeny => 0,
        }
    }

    #[test]
    fn trust_requests_match_principal_and_known_keys() {
        let keys: BTreeMap<String, String> =
            [("p:sub".to_string(), "system:serviceaccount:default:sa".to_string())].into();
        let req = |principal, action| Request {
            principal: Some(principal),
            action,
            resource: None,
            known: Known::Keys(&keys),
        };
        let irsa = ("Federated", "arn:aws:iam::1:oidc-provider/p");
        let doc = pol(
            serde_json::json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": irsa.1},
            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {"p:sub": "system:serviceaccount:default:sa"}}}]}),
        );
        let d = |p, a| decide(std::slice::from_ref(&doc), &req(p, a)).decision;
        assert_eq!(d(irsa, "sts:AssumeRoleWithWebIdentity"), Decision::Allowed);
        assert_eq!(
            d(
                ("Federated", "arn:aws:iam::1:oidc-provider/x"),
                "sts:AssumeRoleWithWebIdentity"
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(d(irsa, "sts:AssumeRole"), Decision::ImplicitDeny);
        let not = pol(
            serde_json::json!({"Statement": [{"Effect": "Deny", "NotPrincipal": {"Service": "pods.eks.amazonaws.com"}, "Action": "sts:*"},
            {"Effect": "Allow", "Principal": "*", "Action": "sts:*"}]}),
        );
        let d = |p| decide(std::slice::from_ref(&not), &req(p, "sts:AssumeRole")).decision;
        assert_eq!(
            d(("Service", "pods.eks.amazonaws.com")),
            Decision::Allowed,
            "NotPrincipal exempts the listed principal"
        );
        assert_eq!(d(irsa), Decision::ExplicitDeny, "and denies everyone else");
    }

    proptest! {
        #[test]
        fn trust_decisions_adding_a_deny_never_allows_more(
            stmts in prop::collection::vec(arb_trust_statement(), 0..5),
            deny in arb_trust_statement(),
            principal in prop::sample::select(vec![
                ("Service", "pods.eks.amazonaws.com"),
                ("Federated", "arn:aws:iam::1:oidc-provider/p"),
            ]),
            action in prop::sample::select(vec!["sts:AssumeRole", "sts:TagSession", "sts:AssumeRoleWithWebIdentity"]),
            known in any::<bool>(),
        ) {
            let keys: BTreeMap<String, String> = [
                ("p:sub".to_string(), "system:serviceaccount:default:sa".to_string()),
                ("p:aud".to_string(), "sts.amazonaws.com".to_string()),
            ].into();
            let req = Request {
                principal: Some(principal),
                action,
                resource: None,
                known: if known { Known::Keys(&keys) } else { Known::Nothing },
            };
            let before = pol(serde_json::json!({"Statement": stmts.clone()}));
            let mut deny = deny;
            deny["Effect"] = Value::String("Deny".into());
            let mut with = stmts;
            with.push(deny);
            let after = pol(serde_json::json!({"Statement": with}));
            let (b, a) = (decide(&[before], &req).decision, decide(&[after], &req).decision);
            prop_assert!(rank(a) <= rank(b), "{:?} became {:?}", b, a);
        }

        #[test]
        fn never_panics_on_any_document(doc in arb_json(), action in "[a-z0-9:*]{0,10}", resource in "[a-z0-9:/*]{0,16}") {
            let p = Policy::from_value(&doc);
            let _ = evaluate(std::slice::from_ref(&p), &action, &resource);
            let _ = evaluate_with_boundary(std::slice::from_ref(&p), Some(&p), &action, &resource);
            let _ = parse_document(&doc.to_string());
        }

        #[test]
        fn never_panics_on_any_text(text in ".{0,64}") {
            let _ = parse_document(&text);
        }

        #[test]
        fn adding_a_deny_never_allows_more(
            stmts in prop::collection::vec(arb_statement(), 0..6),
            deny in arb_statement(),
            action in prop::sample::select(vec!["s3:GetObject", "s3:ListBucket", "s3:PutObject"]),
            resource in prop::sample::select(vec!["arn:aws:s3:::b", "arn:aws:s3:::b/*"]),
        ) {
            let before = pol(serde_json::json!({"Statement": stmts.clone()}));
            let mut deny = deny;
            deny["Effect"] = Value::String("Deny".into());
            let mut with = stmts;
            with.push(deny);
            let after = pol(serde_json::json!({"Statement": with}));
            let (b, a) = (evaluate(&[before], action, resource), evaluate(&[after], action, resource));
            prop_assert!(rank(a) <= rank(b), "{:?} became {:?}", b, a);
            if b != Decision::Allowed && b != Decision::ConditionallyAllowed && b != Decision::ConditionallyDenied {
                prop_assert!(a != Decision::Allowed && a != Decision::ConditionallyAllowed);
            }
        }
    }
}
