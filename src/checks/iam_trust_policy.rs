//! `iam.trust-policy`: the role's trust policy lets the pods assume it, for the wiring in force.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Value, json};

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::merge::{self, DocumentChange, DocumentRef, Edit};
use crate::policy::{self, Applies, CondResult, Decision, Effect, Known, Policy, Request, Statement};
use crate::probe::{ErrorKind, Op, ProbeError};
use crate::report::Status;
use crate::wiring::Wiring;
use crate::{arn, guide};

/// The Pod Identity service principal.
pub const PODS_PRINCIPAL: &str = "pods.eks.amazonaws.com";

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "iam.trust-policy",
    deps: &["iam.role", "mode"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let wiring = match ctx.wiring().await.map(|d| d.in_force()) {
        Ok(Some(w)) => w,
        Ok(None) => return Outcome::skip(Code::NotApplicable, "not applicable: no wiring is in force"),
        Err(e) => return Outcome::from_error(&e),
    };
    let role = match ctx.facts.role(&t.role_name).await {
        Ok(r) => r,
        Err(e) => return Outcome::from_error(&e),
    };
    let doc = match policy::parse_document(&role.trust_policy) {
        Ok(p) => p,
        Err(e) => {
            return Outcome::from_error(&ProbeError::new(
                Op::GetRole,
                ErrorKind::Other,
                None,
                format!("trust policy of {}: {e}", role.arn),
            ));
        }
    };
    let evidence = json!({ "role": role.arn, "wiring": wiring.as_str(), "trust_policy": doc });
    match wiring {
        Wiring::PodIdentity => {
            // The session Pod Identity's AssumeRole carries, from what the doctor knows of the cluster.
            let cluster = ctx.facts.cluster(&t.cluster).await.ok();
            let account = match ctx.facts.caller_identity().await {
                Ok(id) => Some(id.account),
                Err(_) => cluster
                    .as_ref()
                    .and_then(|c| c.arn.as_deref())
                    .and_then(|a| a.split(':').nth(4))
                    .map(str::to_string),
            };
            // The association says whether session tags are sent at all.
            let tags_disabled = match ctx.wiring().await.ok().and_then(|d| d.association.clone()) {
                Some(a) => ctx
                    .facts
                    .association(&t.cluster, &a.id)
                    .await
                    .map(|a| a.disable_session_tags)
                    .unwrap_or(false),
                None => false,
            };
            let session = PodSession {
                account,
                cluster_arn: cluster.and_then(|c| c.arn),
                cluster_name: t.cluster.clone(),
                namespace: t.namespace.clone(),
                service_account: t.service_account.clone(),
                tags_disabled,
            };
            let outcome = evaluate_pod_identity_in(&t.role_name, &doc, &session);
            let edits = match outcome.status {
                Status::Fail => pod_identity_edits(&doc.source, &session),
                _ => None,
            };
            with_change(outcome, trust_change(&t.role_name, &doc, edits)).evidence(evidence)
        }
        Wiring::Irsa => {
            let (cluster, id) = match futures::join!(ctx.facts.cluster(&t.cluster), ctx.facts.caller_identity()) {
                (Ok(c), Ok(id)) => (c, id),
                (Err(e), _) | (_, Err(e)) => return Outcome::from_error(&e),
            };
            let Some(issuer) = cluster.oidc_issuer.filter(|i| !i.is_empty()) else {
                return Outcome::blocked(
                    "irsa.oidc-provider",
                    format!("cluster {} has no OIDC issuer", t.cluster),
                );
            };
            let provider = arn::oidc_provider(&issuer);
            let provider_arn = arn::oidc_provider_arn(&id, &provider);
            let outcome = evaluate_irsa(&doc, &provider_arn, &provider, &t.namespace, &t.service_account);
            let subject = format!("system:serviceaccount:{}:{}", t.namespace, t.service_account);
            let edits = match outcome.status {
                Status::Fail => irsa_edits(&doc.source, &provider_arn, &provider, &t.namespace, &t.service_account),
                Status::Warn => irsa_pin(&doc, outcome.code, &provider_arn, &provider, &subject).map(|e| vec![e]),
                _ => None,
            };
            with_change(outcome, trust_change(&t.role_name, &doc, edits))
                .var("oidc_provider", provider)
                .evidence(evidence)
        }
    }
}

/// How many edits one finding's fix may take: each edit fixes one link (a statement, then its `:aud`), and a fix
/// that needs more is not a small change any more.
const MAX_EDITS: usize = 4;

/// The trust policy's change for `role`, from the document as read and the edits that fix it.
fn trust_change(role: &str, read: &Policy, edits: Option<Vec<Edit>>) -> Option<DocumentChange> {
    let edits = edits.filter(|e| !e.is_empty())?;
    Some(DocumentChange {
        document: DocumentRef::TrustPolicy { role: role.to_string() },
        read: Some(read.source.clone()),
        edits,
    })
}

/// The outcome with its document change, and `trust_policy_json` (the copy-paste command's document) set to the
/// merged document: the live one with only this finding's edits. Without an additive change the variable stays
/// unset, and the command that would write a guessed document is left out.
fn with_change(outcome: Outcome, change: Option<DocumentChange>) -> Outcome {
    let merged = change
        .as_ref()
        .and_then(|c| merge::apply(c.read.as_ref(), &c.edits).ok());
    let outcome = outcome.change(change);
    match merged {
        Some(doc) => outcome.var("trust_policy_json", doc.to_string()),
        None => outcome,
    }
}

/// Finds edits one at a time: `next` looks at the document as edited so far and names the next edit (`Ok(None)`:
/// nothing left to do; `Err(())`: no additive edit can fix it). Each edit is applied before the next is looked for,
/// and the result must be done within [`MAX_EDITS`].
fn edits_until(source: &Value, mut next: impl FnMut(&Policy) -> Result<Option<Edit>, ()>) -> Option<Vec<Edit>> {
    let mut edits = Vec::new();
    let mut current = source.clone();
    for _ in 0..=MAX_EDITS {
        let doc = Policy::from_value(&current);
        match next(&doc) {
            Ok(None) => return Some(edits),
            Ok(Some(edit)) => {
                current = merge::apply(Some(&current), std::slice::from_ref(&edit)).ok()?;
                edits.push(edit);
            }
            Err(()) => return None,
        }
    }
    None
}

/// Whether an Allow statement names this caller and action, whatever its conditions say: the statements a
/// verdict about that caller is about.
fn allows_caller(st: &Statement, principal: (&str, &str), action: &str) -> bool {
    st.effect == Some(Effect::Allow)
        && st.applies(&Request {
            principal: Some(principal),
            action,
            resource: None,
            known: Known::Nothing,
        }) != Applies::No
}

/// Whether an operator accepts more when a value is added to its list (not a negated one, not `ForAllValues`).
fn widens_with_a_value(operator: &str) -> bool {
    !operator.contains("Not") && !operator.starts_with("ForAllValues:")
}

/// The edits that let this session's pods assume the role, each only widening the document; `None` when no
/// additive edit can (an explicit Deny, a negated condition naming them, a session tag the association does not
/// send).
pub fn pod_identity_edits(source: &Value, session: &PodSession) -> Option<Vec<Edit>> {
    let keys = session.keys();
    let for_service = |st: &Statement, action| allows_caller(st, ("Service", PODS_PRINCIPAL), action);
    let holds = |st: &Statement| {
        st.conditions
            .iter()
            .all(|c| policy::eval_condition(c, &keys) == CondResult::True)
    };
    edits_until(source, |doc| {
        let o = evaluate_pod_identity_in("", doc, session);
        if o.status != Status::Fail {
            return Ok(None);
        }
        match o.code {
            Some(Code::TrustConditionExcludes) => {
                // Accept this session's value as well, in the condition that excludes it.
                for (i, st) in doc.statements.iter().enumerate() {
                    if !for_service(st, "sts:AssumeRole") && !for_service(st, "sts:TagSession") {
                        continue;
                    }
                    if let Some(c) = st
                        .conditions
                        .iter()
                        .find(|c| policy::eval_condition(c, &keys) == CondResult::False)
                    {
                        let value = keys
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&c.key))
                            .map(|(_, v)| v.clone())
                            .filter(|v| v != policy::ABSENT)
                            .ok_or(())?;
                        if !widens_with_a_value(&c.operator) {
                            return Err(());
                        }
                        return Ok(Some(Edit::AddConditionValue {
                            index: i,
                            operator: c.operator.clone(),
                            key: c.key.clone(),
                            value,
                        }));
                    }
                }
                Err(())
            }
            Some(code @ (Code::TrustNoPodsService | Code::TrustNoTagSession)) => {
                let (have, missing) = if code == Code::TrustNoPodsService {
                    ("sts:TagSession", "sts:AssumeRole")
                } else {
                    ("sts:AssumeRole", "sts:TagSession")
                };
                // The statement that already trusts the service for the other action (and holds for this
                // session) gets the missing one; else the guide's statement is added.
                let found = doc.statements.iter().enumerate().find(|(_, st)| {
                    for_service(st, have) && holds(st) && matches!(st.action, policy::Matcher::Only(_))
                });
                Ok(Some(match found {
                    Some((index, _)) => Edit::AddActions {
                        index,
                        actions: vec![missing.to_string()],
                    },
                    None => Edit::AddStatement {
                        statement: guide::pod_identity_statement(),
                    },
                }))
            }
            _ => Err(()),
        }
    })
}

/// The edits that let `system:serviceaccount:<namespace>:<sa>` assume the role through this cluster's provider,
/// each only widening the document: one statement per provider and service account when none is there, else the
/// excluding condition of the provider's statement accepts this service account (or audience) as well; `None` when
/// no additive edit can (an explicit Deny, a negated condition).
pub fn irsa_edits(source: &Value, provider_arn: &str, provider: &str, namespace: &str, sa: &str) -> Option<Vec<Edit>> {
    let subject = format!("system:serviceaccount:{namespace}:{sa}");
    let (sub_key, aud_key) = (format!("{provider}:sub"), format!("{provider}:aud"));
    let context: BTreeMap<String, String> = [
        (sub_key.clone(), subject.clone()),
        (aud_key.clone(), "sts.amazonaws.com".to_string()),
    ]
    .into();
    edits_until(source, |doc| {
        let o = evaluate_irsa(doc, provider_arn, provider, namespace, sa);
        if o.status != Status::Fail {
            return Ok(None);
        }
        let ours = |st: &Statement| allows_caller(st, ("Federated", provider_arn), "sts:AssumeRoleWithWebIdentity");
        // The provider's statement whose condition on `key` excludes the pod.
        let excluding = |key: &str| {
            doc.statements
                .iter()
                .enumerate()
                .filter(|(_, st)| ours(st))
                .find_map(|(i, st)| {
                    st.conditions
                        .iter()
                        .find(|c| {
                            c.key.eq_ignore_ascii_case(key) && policy::eval_condition(c, &context) == CondResult::False
                        })
                        .map(|c| (i, c.clone()))
                })
        };
        match o.code {
            Some(Code::TrustNoOidcProvider | Code::TrustOtherOidcProvider) => Ok(Some(Edit::AddStatement {
                statement: guide::irsa_statement(provider_arn, provider, namespace, sa),
            })),
            Some(Code::TrustSubWildcardEquals) => {
                let (index, c) = excluding(&sub_key).ok_or(())?;
                if !c.operator.contains("StringEquals") || c.operator.contains("Not") {
                    return Err(());
                }
                Ok(Some(Edit::ChangeOperator {
                    index,
                    key: c.key.clone(),
                    from: c.operator.clone(),
                    to: c.operator.replace("StringEquals", "StringLike"),
                }))
            }
            Some(code @ (Code::TrustSubMismatch | Code::TrustAudMismatch)) => {
                let (key, value) = if code == Code::TrustSubMismatch {
                    (&sub_key, subject.clone())
                } else {
                    (&aud_key, "sts.amazonaws.com".to_string())
                };
                let (index, c) = excluding(key).ok_or(())?;
                if !widens_with_a_value(&c.operator) {
                    return Err(());
                }
                Ok(Some(Edit::AddConditionValue {
                    index,
                    operator: c.operator.clone(),
                    key: c.key.clone(),
                    value,
                }))
            }
            _ => Err(()),
        }
    })
}

/// A warning's fix: the `:aud` pin (SKY247) or the `:sub` pin (SKY251) on the statement that lets the pod in.
/// These narrow the statement on purpose, so the script keeps them commented out.
fn irsa_pin(doc: &Policy, code: Option<Code>, provider_arn: &str, provider: &str, subject: &str) -> Option<Edit> {
    let (key, value) = match code? {
        Code::TrustAudMissing => (format!("{provider}:aud"), "sts.amazonaws.com".to_string()),
        Code::TrustSubMissing => (format!("{provider}:sub"), subject.to_string()),
        _ => return None,
    };
    let index = doc.statements.iter().position(|st| {
        st.effect == Some(Effect::Allow)
            && st
                .principal
                .get("Federated")
                .is_some_and(|p| p.iter().any(|p| p.eq_ignore_ascii_case(provider_arn)))
            && !st.conditions.iter().any(|c| c.key.eq_ignore_ascii_case(&key))
    })?;
    Some(Edit::AddCondition {
        index,
        operator: "StringEquals".into(),
        key,
        value,
    })
}

fn label(i: usize, st: &Statement) -> String {
    st.sid
        .clone()
        .map(|s| format!("Sid {s}"))
        .unwrap_or_else(|| format!("statement #{}", i + 1))
}

/// The statements of `doc` at `indices`.
fn statements<'a>(doc: &'a Policy, indices: &'a [usize]) -> impl Iterator<Item = &'a Statement> + 'a {
    indices.iter().filter_map(|&i| doc.statements.get(i))
}

/// The label of the first statement at `indices` ("Sid X" or "statement #n").
fn first_label(doc: &Policy, indices: &[usize]) -> String {
    indices
        .first()
        .and_then(|&i| doc.statements.get(i).map(|st| label(i, st)))
        .unwrap_or_else(|| "a statement".into())
}

/// The session tags Pod Identity attaches by default.
const TAGS: [&str; 4] = [
    "eks-cluster-arn",
    "eks-cluster-name",
    "kubernetes-namespace",
    "kubernetes-service-account",
];

/// What the doctor knows of the session EKS Pod Identity asks STS for: the session tags it attaches by default
/// (EKS user guide, "List of session tags added by EKS Pod Identity") and the account the request comes from.
#[derive(Debug, Clone, Default)]
pub struct PodSession {
    /// The cluster's account (`aws:SourceAccount`).
    pub account: Option<String>,
    /// The cluster's ARN (`aws:RequestTag/eks-cluster-arn`).
    pub cluster_arn: Option<String>,
    /// `aws:RequestTag/eks-cluster-name`.
    pub cluster_name: String,
    /// `aws:RequestTag/kubernetes-namespace`.
    pub namespace: String,
    /// `aws:RequestTag/kubernetes-service-account`.
    pub service_account: String,
    /// The association turns session tags off: none of the `aws:RequestTag/...` keys is sent.
    pub tags_disabled: bool,
}

impl PodSession {
    /// The condition keys and values every pod of this service account's session carries. `aws:SourceArn` is
    /// left out on purpose: which ARN Pod Identity sends there is not documented (a field report shows the
    /// association's ARN working), so a condition on it stays unknown and can only warn, never fail.
    /// `kubernetes-pod-name` and `kubernetes-pod-uid` vary per pod and stay unknown too.
    fn keys(&self) -> BTreeMap<String, String> {
        let mut k = BTreeMap::new();
        if let Some(a) = &self.account {
            k.insert("aws:SourceAccount".into(), a.clone());
        }
        if self.tags_disabled {
            // Absent keys: a plain operator on them is false, `...IfExists` and negated ones hold, as in IAM.
            for tag in TAGS {
                k.insert(format!("aws:RequestTag/{tag}"), policy::ABSENT.into());
            }
            return k;
        }
        if let Some(arn) = &self.cluster_arn {
            k.insert("aws:RequestTag/eks-cluster-arn".into(), arn.clone());
        }
        k.insert("aws:RequestTag/eks-cluster-name".into(), self.cluster_name.clone());
        k.insert("aws:RequestTag/kubernetes-namespace".into(), self.namespace.clone());
        k.insert(
            "aws:RequestTag/kubernetes-service-account".into(),
            self.service_account.clone(),
        );
        k
    }
}

/// [`evaluate_pod_identity_in`] without any knowledge of the session: every condition is unknown.
pub fn evaluate_pod_identity(role: &str, doc: &Policy) -> Outcome {
    evaluate_pod_identity_in_keys(role, doc, None)
}

/// Pod Identity: `pods.eks.amazonaws.com` may `sts:AssumeRole` and `sts:TagSession` for this cluster's pods of
/// this service account. Both are decided by [`policy::decide`] as IAM would (each action on its own; a matching
/// Deny wins), with the session's known condition keys ([`PodSession`]): a condition that excludes them fails
/// naming the key and both values; one the doctor cannot know warns.
pub fn evaluate_pod_identity_in(role: &str, doc: &Policy, session: &PodSession) -> Outcome {
    evaluate_pod_identity_in_keys(role, doc, Some(&session.keys()))
}

fn evaluate_pod_identity_in_keys(role: &str, doc: &Policy, keys: Option<&BTreeMap<String, String>>) -> Outcome {
    let known = match keys {
        Some(k) => Known::Keys(k),
        None => Known::Nothing,
    };
    let decide = |action| {
        policy::decide(
            std::slice::from_ref(doc),
            &Request {
                principal: Some(("Service", PODS_PRINCIPAL)),
                action,
                resource: None,
                known,
            },
        )
    };
    let (assume, tag) = (decide("sts:AssumeRole"), decide("sts:TagSession"));
    for v in [&assume, &tag] {
        if v.decision == Decision::ExplicitDeny {
            let found = first_label(doc, &v.statements);
            return Outcome::fail(
                Code::TrustExplicitDeny,
                format!("the trust policy of {role} denies {PODS_PRINCIPAL} in {found}"),
            )
            .var("found", found);
        }
    }
    // A statement that would allow the service but whose known condition excludes this session: name it.
    if let Some(k) = keys
        && (assume.decision == Decision::ImplicitDeny || tag.decision == Decision::ImplicitDeny)
    {
        for st in doc.statements.iter() {
            if !allows_caller(st, ("Service", PODS_PRINCIPAL), "sts:AssumeRole") {
                continue;
            }
            if let Some(c) = st
                .conditions
                .iter()
                .find(|c| policy::eval_condition(c, k) == CondResult::False)
            {
                let actual = k
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case(&c.key))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let actual = if actual == policy::ABSENT {
                    "no such tag: the association disables session tags".to_string()
                } else {
                    actual
                };
                let found = format!("{} {} {:?}", c.operator, c.key, c.values);
                return Outcome::fail(
                    Code::TrustConditionExcludes,
                    format!(
                        "the trust policy of {role} allows {PODS_PRINCIPAL} only when {} is {} ({}), but this cluster's pods of {} send {actual}",
                        c.key,
                        c.values.join(" or "),
                        c.operator,
                        k.get("aws:RequestTag/kubernetes-service-account").cloned().unwrap_or_default()
                    ),
                )
                .var("found", found);
            }
        }
    }
    match (assume.decision, tag.decision) {
        (Decision::ImplicitDeny, _) => Outcome::fail(
            Code::TrustNoPodsService,
            format!("the trust policy of {role} does not let {PODS_PRINCIPAL} call sts:AssumeRole"),
        ),
        (_, Decision::ImplicitDeny) => Outcome::fail(
            Code::TrustNoTagSession,
            format!("the trust policy of {role} allows sts:AssumeRole for {PODS_PRINCIPAL} but not sts:TagSession"),
        ),
        (Decision::Allowed, Decision::Allowed) => Outcome::pass(format!(
            "{role} trusts {PODS_PRINCIPAL} with sts:AssumeRole and sts:TagSession"
        )),
        _ => {
            let mut indices = assume.statements.clone();
            indices.extend(&tag.statements);
            indices.sort_unstable();
            indices.dedup();
            let unknown = |c: &&policy::Condition| match keys {
                Some(k) => policy::eval_condition(c, k) == CondResult::Unknown,
                None => true,
            };
            let found = condition_keys(statements(doc, &indices).flat_map(|st| &st.conditions).filter(unknown));
            let why = if found.contains("aws:SourceArn") {
                " (which ARN Pod Identity sends as aws:SourceArn is not documented; a field report shows the association's ARN)"
            } else if found.contains("kubernetes-pod-") {
                " (the pod's name and uid vary per pod)"
            } else {
                ""
            };
            Outcome::warn(
                Code::TrustConditionsUnknown,
                format!(
                    "{role} trusts {PODS_PRINCIPAL} only under conditions the doctor cannot evaluate: {found}{why}"
                ),
            )
            .var("found", found)
        }
    }
}

fn condition_keys<'a>(conds: impl Iterator<Item = &'a policy::Condition>) -> String {
    let mut keys: Vec<String> = conds.map(|c| format!("{} {}", c.operator, c.key)).collect();
    keys.dedup();
    keys.join(", ")
}

/// IRSA: this cluster's provider may `sts:AssumeRoleWithWebIdentity` for `system:serviceaccount:<ns>:<sa>`.
/// [`policy::decide`] settles it with the `:sub` and `:aud` values the pod's token carries; the statements then
/// explain the verdict (which condition excludes the pod, or what a passing statement lacks).
pub fn evaluate_irsa(doc: &Policy, provider_arn: &str, provider: &str, namespace: &str, sa: &str) -> Outcome {
    const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
    let subject = format!("system:serviceaccount:{namespace}:{sa}");
    let sub_key = format!("{provider}:sub");
    let aud_key = format!("{provider}:aud");
    let context: BTreeMap<String, String> = [
        (sub_key.clone(), subject.clone()),
        (aud_key.clone(), "sts.amazonaws.com".to_string()),
    ]
    .into();
    let verdict = policy::decide(
        std::slice::from_ref(doc),
        &Request {
            principal: Some(("Federated", provider_arn)),
            action: ACTION,
            resource: None,
            known: Known::Keys(&context),
        },
    );
    let explain = |indices: &[usize]| -> Option<Outcome> {
        let rank = |o: &Outcome| match o.status {
            Status::Pass => 0,
            Status::Warn => 1,
            _ => 2,
        };
        statements(doc, indices)
            .map(|st| irsa_statement(st, &sub_key, &aud_key, &subject, &context))
            .min_by_key(rank)
    };
    match verdict.decision {
        Decision::ExplicitDeny => {
            let found = first_label(doc, &verdict.statements);
            Outcome::fail(
                Code::TrustExplicitDeny,
                format!("the trust policy denies {ACTION} for {subject} in {found}"),
            )
            .var("found", found)
        }
        Decision::Allowed => explain(&verdict.statements).unwrap_or_else(|| {
            Outcome::pass(format!(
                "the role trusts {subject} through this cluster's OIDC provider"
            ))
        }),
        Decision::ConditionallyAllowed | Decision::ConditionallyDenied => {
            let keys = condition_keys(
                statements(doc, &verdict.statements)
                    .flat_map(|st| &st.conditions)
                    .filter(|c| policy::eval_condition(c, &context) == CondResult::Unknown),
            );
            Outcome::warn(
                Code::TrustConditionsUnknown,
                format!("the trust statement has conditions the doctor cannot evaluate: {keys}"),
            )
            .var("found", keys)
        }
        Decision::ImplicitDeny => {
            // Why nothing allows the pod: statements for this provider whose conditions exclude it, or none at all.
            let ours: Vec<usize> = doc
                .statements
                .iter()
                .enumerate()
                .filter(|(_, st)| allows_caller(st, ("Federated", provider_arn), ACTION))
                .map(|(i, _)| i)
                .collect();
            if let Some(o) = explain(&ours).filter(|o| o.status == Status::Fail) {
                return o;
            }
            let other = doc
                .statements
                .iter()
                .filter(|st| st.effect == Some(Effect::Allow))
                .find_map(|st| {
                    st.principal
                        .get("Federated")?
                        .iter()
                        .find(|p| p.contains(":oidc-provider/"))
                        .cloned()
                });
            match other {
                Some(found) if !found.eq_ignore_ascii_case(provider_arn) => Outcome::fail(
                    Code::TrustOtherOidcProvider,
                    format!("the trust policy federates {found}, not this cluster's provider {provider_arn}"),
                )
                .var("found", found),
                _ => Outcome::fail(
                    Code::TrustNoOidcProvider,
                    format!("no statement of the trust policy lets {provider_arn} call {ACTION}"),
                ),
            }
        }
    }
}

fn irsa_statement(
    st: &Statement,
    sub_key: &str,
    aud_key: &str,
    subject: &str,
    context: &BTreeMap<String, String>,
) -> Outcome {
    let is = |c: &&policy::Condition, k: &str| c.key.eq_ignore_ascii_case(k);
    let subs: Vec<&policy::Condition> = st.conditions.iter().filter(|c| is(c, sub_key)).collect();
    let auds: Vec<&policy::Condition> = st.conditions.iter().filter(|c| is(c, aud_key)).collect();
    let others: Vec<&policy::Condition> = st
        .conditions
        .iter()
        .filter(|c| !is(c, sub_key) && !is(c, aud_key))
        .collect();

    for c in &subs {
        if policy::eval_condition(c, context) == CondResult::False {
            let found = c.values.join(", ");
            let literal_star = c.operator.trim_end_matches("IfExists").ends_with("StringEquals")
                && c.values
                    .iter()
                    .any(|v| v.contains('*') && policy::wildcard_match(v, subject, false));
            if literal_star {
                return Outcome::fail(
                    Code::TrustSubWildcardEquals,
                    format!("the :sub condition is StringEquals {found}: the * is literal, so {subject} never matches"),
                )
                .var("found", found);
            }
            return Outcome::fail(
                Code::TrustSubMismatch,
                format!("the :sub condition allows {found}, not {subject}"),
            )
            .var("found", found);
        }
    }
    for c in &auds {
        if policy::eval_condition(c, context) == CondResult::False {
            let found = c.values.join(", ");
            return Outcome::fail(
                Code::TrustAudMismatch,
                format!("the :aud condition requires {found}, not sts.amazonaws.com"),
            )
            .var("found", found);
        }
    }
    let unknown: Vec<&policy::Condition> = others
        .iter()
        .copied()
        .chain(
            subs.iter()
                .copied()
                .chain(auds.iter().copied())
                .filter(|c| policy::eval_condition(c, context) == CondResult::Unknown),
        )
        .collect();
    if !unknown.is_empty() {
        let keys = condition_keys(unknown.into_iter());
        return Outcome::warn(
            Code::TrustConditionsUnknown,
            format!("the trust statement has conditions the doctor cannot evaluate: {keys}"),
        )
        .var("found", keys);
    }
    if subs.is_empty() {
        return Outcome::warn(
            Code::TrustSubMissing,
            format!(
                "the trust statement has no {sub_key} condition: any service account of the cluster can assume the role"
            ),
        );
    }
    if auds.is_empty() {
        return Outcome::warn(
            Code::TrustAudMissing,
            format!("the trust statement has no {aud_key} condition"),
        );
    }
    Outcome::pass(format!(
        "the role trusts {subject} through this cluster's OIDC provider"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "oidc.eks.us-west-2.amazonaws.com/id/ABC";
    const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC";

    fn irsa(doc: Value) -> Outcome {
        evaluate_irsa(&Policy::from_value(&doc), ARN, P, "default", "sa")
    }

    fn stmt(cond: Value) -> Value {
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN},
                              "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}]})
    }

    #[test]
    fn irsa_verdicts() {
        let sub = format!("{P}:sub");
        let aud = format!("{P}:aud");
        let ok = irsa(stmt(
            json!({"StringEquals": {&sub: "system:serviceaccount:default:sa", &aud: "sts.amazonaws.com"}}),
        ));
        assert_eq!(ok.status, Status::Pass, "{}", ok.message);
        let code = |o: Outcome| o.code.unwrap();
        assert_eq!(
            code(irsa(stmt(
                json!({"StringEquals": {&sub: "system:serviceaccount:other:sa", &aud: "sts.amazonaws.com"}})
            ))),
            Code::TrustSubMismatch
        );
        assert_eq!(
            code(irsa(stmt(
                json!({"StringEquals": {&sub: "system:serviceaccount:default:*", &aud: "sts.amazonaws.com"}})
            ))),
            Code::TrustSubWildcardEquals
        );
        let like = irsa(stmt(
            json!({"StringLike": {&sub: "system:serviceaccount:default:*"}, "StringEquals": {&aud: "sts.amazonaws.com"}}),
        ));
        assert_eq!(like.status, Status::Pass, "{}", like.message);
        assert_eq!(
            code(irsa(stmt(
                json!({"StringEquals": {&sub: "system:serviceaccount:default:sa"}})
            ))),
            Code::TrustAudMissing
        );
        assert_eq!(
            code(irsa(stmt(
                json!({"StringEquals": {&sub: "system:serviceaccount:default:sa", &aud: "other"}})
            ))),
            Code::TrustAudMismatch
        );
        assert_eq!(
            code(irsa(stmt(json!({"StringEquals": {&aud: "sts.amazonaws.com"}})))),
            Code::TrustSubMissing
        );
        assert_eq!(
            code(irsa(stmt(
                json!({"StringEquals": {&sub: "system:serviceaccount:default:sa", &aud: "sts.amazonaws.com", "aws:SourceIp": "1.2.3.4"}})
            ))),
            Code::TrustConditionsUnknown
        );
        let other = ARN.replace("ABC", "XYZ");
        let o = irsa(
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": other}, "Action": "sts:AssumeRoleWithWebIdentity"}]}),
        );
        assert_eq!(o.code, Some(Code::TrustOtherOidcProvider));
        assert_eq!(code(irsa(json!({"Statement": []}))), Code::TrustNoOidcProvider);
        let mut deny =
            stmt(json!({"StringEquals": {&sub: "system:serviceaccount:default:sa", &aud: "sts.amazonaws.com"}}));
        deny["Statement"]
            .as_array_mut()
            .unwrap()
            .push(json!({"Effect": "Deny", "Principal": {"Federated": ARN}, "Action": "sts:*"}));
        assert_eq!(code(irsa(deny)), Code::TrustExplicitDeny);
    }

    #[test]
    fn pod_identity_conditions_with_the_session_the_agent_sends() {
        let mut session = PodSession {
            account: Some("111122223333".into()),
            cluster_arn: Some("arn:aws:eks:us-west-2:111122223333:cluster/prod".into()),
            cluster_name: "prod".into(),
            namespace: "default".into(),
            service_account: "skypilot-service-account".into(),
            tags_disabled: false,
        };
        let pi = |cond: Value| {
            let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL},
                "Action": ["sts:AssumeRole", "sts:TagSession"], "Condition": cond}]});
            evaluate_pod_identity_in("r", &Policy::from_value(&doc), &session)
        };
        // The EKS guide's pinning, holding: a pass, not "conditions the doctor cannot evaluate".
        let pinned = json!({"StringEquals": {"aws:SourceAccount": "111122223333",
            "aws:RequestTag/kubernetes-namespace": ["default"],
            "aws:RequestTag/kubernetes-service-account": "skypilot-service-account"},
            "ArnLike": {"aws:RequestTag/eks-cluster-arn": "arn:aws:eks:*:111122223333:cluster/prod"}});
        assert_eq!(pi(pinned).status, Status::Pass);
        assert_eq!(
            pi(json!({"StringLike": {"aws:RequestTag/eks-cluster-name": "pr*"}})).status,
            Status::Pass
        );
        assert_eq!(
            pi(json!({"ForAnyValue:StringEquals": {"aws:RequestTag/kubernetes-namespace": ["a", "default"]}})).status,
            Status::Pass
        );
        // Pinned to another cluster: the pods get nothing, and the finding names the key and both values.
        let other = pi(json!({"StringEquals": {"aws:RequestTag/eks-cluster-name": "staging"}}));
        assert_eq!(other.code, Some(Code::TrustConditionExcludes), "{}", other.message);
        assert!(
            other.message.contains("staging") && other.message.contains("eks-cluster-name"),
            "{}",
            other.message
        );
        let account = pi(json!({"StringEquals": {"aws:SourceAccount": "999999999999"}}));
        assert_eq!(account.code, Some(Code::TrustConditionExcludes), "{}", account.message);
        // Per-pod values and the undocumented aws:SourceArn: a warning that says why, never a failure.
        let pod = pi(json!({"StringEquals": {"aws:RequestTag/kubernetes-pod-name": "x"}}));
        assert_eq!(pod.code, Some(Code::TrustConditionsUnknown), "{}", pod.message);
        let source_arn = pi(json!({"ArnEquals": {"aws:SourceArn": "arn:aws:eks:us-west-2:1:cluster/other"}}));
        assert_eq!(
            source_arn.code,
            Some(Code::TrustConditionsUnknown),
            "{}",
            source_arn.message
        );
        assert!(source_arn.message.contains("not documented"), "{}", source_arn.message);
        // IfExists on a key the session carries is decided like the plain operator.
        assert_eq!(
            pi(json!({"StringEqualsIfExists": {"aws:RequestTag/kubernetes-namespace": "other"}})).code,
            Some(Code::TrustConditionExcludes)
        );
        // An association without session tags: the guide's pinning can no longer hold.
        session.tags_disabled = true;
        let doc = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Condition": {"StringEquals": {"aws:RequestTag/kubernetes-namespace": "default"}}}]});
        let o = evaluate_pod_identity_in("r", &Policy::from_value(&doc), &session);
        assert_eq!(o.code, Some(Code::TrustConditionExcludes), "{}", o.message);
        assert!(o.message.contains("disables session tags"), "{}", o.message);
    }

    #[test]
    fn pod_identity_verdicts() {
        let pi = |v: Value| evaluate_pod_identity("r", &Policy::from_value(&v));
        let st = |actions: Value| json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL}, "Action": actions}]});
        assert_eq!(pi(st(json!(["sts:AssumeRole", "sts:TagSession"]))).status, Status::Pass);
        assert_eq!(pi(st(json!("sts:*"))).status, Status::Pass);
        assert_eq!(pi(st(json!("sts:AssumeRole"))).code, Some(Code::TrustNoTagSession));
        assert_eq!(pi(st(json!("sts:TagSession"))).code, Some(Code::TrustNoPodsService));
        assert_eq!(pi(json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})).code, Some(Code::TrustNoPodsService));
        // IAM authorizes each action on its own: two statements are as good as one.
        let split = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL}, "Action": "sts:TagSession"}]});
        assert_eq!(pi(split).status, Status::Pass);
        // A Deny whose conditions the doctor cannot evaluate may apply: a warning, never a silent pass.
        let maybe_denied = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL}, "Action": ["sts:AssumeRole", "sts:TagSession"]},
            {"Effect": "Deny", "Principal": "*", "Action": "sts:*", "Condition": {"StringNotEquals": {"aws:SourceAccount": "1"}}}]});
        let o = pi(maybe_denied);
        assert_eq!(o.code, Some(Code::TrustConditionsUnknown), "{}", o.message);
        assert!(o.message.contains("aws:SourceAccount"), "{}", o.message);
        // A Deny for everyone but the pods (NotPrincipal) does not deny the pods.
        let not = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": PODS_PRINCIPAL}, "Action": ["sts:AssumeRole", "sts:TagSession"]},
            {"Effect": "Deny", "NotPrincipal": {"Service": PODS_PRINCIPAL}, "Action": "sts:*"}]});
        assert_eq!(pi(not).status, Status::Pass);
    }
}
