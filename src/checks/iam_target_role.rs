//! `iam.target-role`: the second hop of a Pod Identity association with a target role (EKS API, 2025-06). EKS
//! assumes the checked role, then the target role (EKS user guide, "Access AWS resources in another account with a
//! target IAM role"): the checked role's policies must allow it, and the target role's trust must allow the
//! checked role, with the session tags EKS passes on or the external id it sets when tags are off.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::json;

use crate::arn;
use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::policy::{self, Decision, Effect, Known, Policy, Request};
use crate::probe::AssociationInfo;
use crate::wiring::Wiring;

/// The two calls EKS makes on the target role with the checked role's credentials (the user guide's example
/// policy for the Pod Identity role grants exactly these).
pub const HOP_ACTIONS: [&str; 2] = ["sts:AssumeRole", "sts:TagSession"];

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "iam.target-role",
    deps: &["pod-identity.association", "iam.role"],
    warm: None,
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// What the second hop's request carries, as far as the doctor knows it.
#[derive(Debug, Clone)]
pub struct Hop {
    /// The checked role (the first hop's), which calls STS.
    pub first_role_arn: String,
    /// Its account: the cluster's.
    pub account: String,
    /// The target role.
    pub target_role_arn: String,
    /// The association's external id (sent only with session tags off).
    pub external_id: Option<String>,
    /// The association turns session tags off.
    pub tags_disabled: bool,
    /// The session tags EKS attaches (transitive: passed on to this hop), when they are on.
    pub tags: BTreeMap<String, String>,
}

impl Hop {
    /// The hop of an association with a target role.
    pub fn of(a: &AssociationInfo, account: &str, cluster_arn: Option<&str>, cluster: &str) -> Option<Hop> {
        let target = a.target_role_arn.clone()?;
        let mut tags = BTreeMap::new();
        if !a.disable_session_tags {
            if let Some(arn) = cluster_arn {
                tags.insert("eks-cluster-arn".to_string(), arn.to_string());
            }
            tags.insert("eks-cluster-name".into(), cluster.to_string());
            tags.insert("kubernetes-namespace".into(), a.namespace.clone());
            tags.insert("kubernetes-service-account".into(), a.service_account.clone());
        }
        Some(Hop {
            first_role_arn: a.role_arn.clone(),
            account: account.to_string(),
            target_role_arn: target,
            external_id: a.external_id.clone(),
            tags_disabled: a.disable_session_tags,
            tags,
        })
    }

    /// The condition keys the doctor knows for this hop. Absent keys are marked so: with tags on, EKS sends no
    /// external id; with tags off, no `aws:RequestTag/...`.
    fn keys(&self) -> BTreeMap<String, String> {
        let mut k: BTreeMap<String, String> = [
            ("aws:PrincipalArn", self.first_role_arn.clone()),
            ("aws:PrincipalAccount", self.account.clone()),
            ("aws:PrincipalType", "AssumedRole".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let external_id = match (&self.external_id, self.tags_disabled) {
            (Some(id), true) => id.clone(),
            _ => policy::ABSENT.to_string(),
        };
        k.insert("sts:ExternalId".into(), external_id);
        for tag in [
            "eks-cluster-arn",
            "eks-cluster-name",
            "kubernetes-namespace",
            "kubernetes-service-account",
        ] {
            // Tags off: none is sent. Tags on: each known one is; an unknown one (no cluster ARN) stays unknown.
            let value = match self.tags.get(tag) {
                _ if self.tags_disabled => Some(policy::ABSENT.to_string()),
                known => known.cloned(),
            };
            if let Some(v) = value {
                k.insert(format!("aws:RequestTag/{tag}"), v);
            }
        }
        k
    }
}

/// How the target role's trust policy could be read.
#[derive(Debug, Clone)]
pub enum TargetTrust {
    /// Read (the target role is in the doctor's account).
    Read(Policy),
    /// The role does not exist.
    NotFound,
    /// The role is in another account, whose IAM the doctor's identity does not read.
    OtherAccount,
}

async fn run(ctx: &Ctx) -> Outcome {
    let t = &ctx.target;
    let detected = match ctx.require_wiring(Wiring::PodIdentity).await {
        Ok(d) => d,
        Err(o) => return o,
    };
    let Some(summary) = detected.association else {
        return Outcome::skip(Code::NotApplicable, "not applicable: no Pod Identity association");
    };
    let (assoc, id, cluster) = futures::join!(
        ctx.facts.association(&t.cluster, &summary.id),
        ctx.facts.caller_identity(),
        ctx.facts.cluster(&t.cluster)
    );
    let (assoc, id) = match (assoc, id) {
        (Ok(a), Ok(i)) => (a, i),
        (Err(e), _) | (_, Err(e)) => return Outcome::from_error(&e),
    };
    let cluster_arn = cluster.ok().and_then(|c| c.arn);
    let Some(hop) = Hop::of(&assoc, &id.account, cluster_arn.as_deref(), &t.cluster) else {
        return Outcome::skip(
            Code::NotApplicable,
            format!("not applicable: association {} names no target role", assoc.id),
        );
    };
    // The first hop's role is the checked one (pod-identity.association passed: the association gives it).
    let role = match ctx.facts.role(&t.role_name).await {
        Ok(r) => r,
        Err(e) => return Outcome::from_error(&e),
    };
    let may = match super::iam_s3_permissions::role_policies(ctx, &t.role_name, role.boundary_arn.as_deref()).await {
        Ok((policies, _, boundary)) => HOP_ACTIONS.map(|a| {
            (
                a,
                policy::evaluate_with_boundary(&policies, boundary.as_ref().map(|(_, p)| p), a, &hop.target_role_arn),
            )
        }),
        Err(e) => return Outcome::from_error(&e),
    };
    let trust = match arn::role_parts(&hop.target_role_arn) {
        Some((account, name)) if account == id.account => match ctx.facts.role(name).await {
            Ok(r) => match policy::parse_document(&r.trust_policy) {
                Ok(p) => TargetTrust::Read(p),
                Err(e) => {
                    return Outcome::inconclusive(
                        Code::ApiError,
                        format!("the trust policy of {} does not parse: {e}", hop.target_role_arn),
                    );
                }
            },
            Err(e) if e.is_not_found() => TargetTrust::NotFound,
            Err(e) => return Outcome::from_error(&e),
        },
        _ => TargetTrust::OtherAccount,
    };
    evaluate(&hop, &may, &trust)
        .var("association_id", assoc.id.clone())
        .var(
            "target_role_name",
            arn::role_parts(&hop.target_role_arn)
                .map(|(_, n)| n)
                .unwrap_or_default(),
        )
}

/// Whether two role ARNs are in the same account.
fn same_account(a: &str, b: &str) -> bool {
    matches!((arn::role_parts(a), arn::role_parts(b)), (Some((x, _)), Some((y, _))) if x == y)
}

/// Whether the target's trust policy allows each of `actions` to the first role by its own ARN (not by its
/// account). Role trust policies are the exception in IAM's evaluation where an account principal defers to the
/// caller's identity policies; a principal named by its ARN needs no Allow there within the same account (IAM
/// user guide, "Policy evaluation logic" and "Update a role trust policy"; AWS re:Post answers on "a particular
/// principal arn from same account in trust policy").
fn trust_names_first_role(raw: &Policy, first: &str, actions: &[&str], keys: &BTreeMap<String, String>) -> bool {
    let mut named = raw.clone();
    named
        .statements
        .retain(|st| !st.not_principal && st.principal.get("AWS").is_some_and(|ps| ps.iter().any(|p| p == first)));
    let decision = |doc: &Policy, action: &str| {
        policy::decide(
            std::slice::from_ref(doc),
            &Request {
                principal: Some(("AWS", first)),
                action,
                resource: None,
                known: Known::Keys(keys),
            },
        )
        .decision
    };
    // Allowed by the statements naming the role, and not denied by any statement of the whole trust.
    !named.statements.is_empty()
        && actions.iter().all(|action| {
            decision(&named, action) == Decision::Allowed && decision(raw, action) != Decision::ExplicitDeny
        })
}

/// Decides over what the checked role's policies allow on the target role (`may`), and the target role's trust.
pub fn evaluate(hop: &Hop, may: &[(&str, Decision)], trust: &TargetTrust) -> Outcome {
    let target = &hop.target_role_arn;
    let first = &hop.first_role_arn;
    let base = |o: Outcome| {
        o.var("target_role_arn", target.clone())
            .var("first_role_arn", first.clone())
            .var("external_id", hop.external_id.clone().unwrap_or_default())
    };
    let mut evidence = json!({
        "first_role": first, "target_role": target, "session_tags_disabled": hop.tags_disabled,
        "external_id": hop.external_id,
        "first_role_may": may.iter().map(|(a, d)| json!({"action": a, "decision": d})).collect::<Vec<_>>(),
    });
    let refused: Vec<&str> = may
        .iter()
        .filter(|(_, d)| matches!(d, Decision::ImplicitDeny | Decision::ExplicitDeny))
        .map(|(a, _)| *a)
        .collect();
    if !refused.is_empty()
        && let TargetTrust::Read(raw) = trust
        && same_account(first, target)
        && trust_names_first_role(raw, first, &refused, &hop.keys())
    {
        return base(Outcome::warn(
            Code::TargetTrustNamesFirstRole,
            format!(
                "role {first}'s own policies do not allow {} on the target role {target}, but the target's trust \
                 policy names {first} itself: within one account that trust alone lets it assume the role (IAM's \
                 rule for role trust policies), a rule EKS's documentation does not state for its second hop",
                refused.join(" and ")
            ),
        ))
        .var("missing", refused.join(" and "))
        .var(
            "assume_target_json",
            json!({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": HOP_ACTIONS, "Resource": target}]})
            .to_string(),
        )
        .evidence(evidence);
    }
    if !refused.is_empty() {
        let missing = refused.join(" and ");
        let doc = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": HOP_ACTIONS, "Resource": target}]});
        return base(Outcome::fail(
            Code::TargetAssumeNotAllowed,
            format!("role {first} may not {missing} on the association's target role {target}: EKS cannot reach it"),
        ))
        .var("missing", missing)
        .var("assume_target_json", doc.to_string())
        .evidence(evidence);
    }
    let doc =
        match trust {
            TargetTrust::NotFound => {
                return base(Outcome::fail(
                    Code::TargetRoleNotFound,
                    format!("the association's target role {target} does not exist"),
                ))
                .evidence(evidence);
            }
            TargetTrust::OtherAccount => {
                let account = arn::role_parts(target).map(|(a, _)| a).unwrap_or("another account");
                return base(Outcome::inconclusive(
                Code::RoleInOtherAccount,
                format!(
                    "role {first} may assume the target role {target}, whose trust policy is in account {account}: the \
                     doctor's identity does not read IAM there, so run skys3 doctor with credentials of account \
                     {account} to judge it"
                ),
            ))
            .var("target_account", account)
            .var("target_role_name", arn::role_parts(target).map(|(_, n)| n).unwrap_or_default())
            .evidence(evidence);
            }
            TargetTrust::Read(doc) => policy::principals_as_role(doc, first, &hop.account),
        };
    evidence["trust_policy"] = json!(doc);
    let keys = hop.keys();
    let decide = |action| {
        policy::decide(
            std::slice::from_ref(&doc),
            &Request {
                principal: Some(("AWS", first)),
                action,
                resource: None,
                known: Known::Keys(&keys),
            },
        )
    };
    let label = |i: usize| {
        doc.statements
            .get(i)
            .and_then(|s| s.sid.clone())
            .map(|s| format!("statement {s}"))
            .unwrap_or_else(|| format!("statement {}", i + 1))
    };
    let mut conditional = vec![];
    for action in HOP_ACTIONS {
        let v = decide(action);
        match v.decision {
            Decision::Allowed => {}
            Decision::ConditionallyAllowed | Decision::ConditionallyDenied => conditional.push(action),
            Decision::ExplicitDeny => {
                let found = v.statements.first().map(|i| label(*i)).unwrap_or_default();
                return base(Outcome::fail(
                    Code::TargetTrustExcludesFirstRole,
                    format!("the trust policy of {target} denies {first} {action} in {found}"),
                ))
                .var("found", found)
                .evidence(evidence);
            }
            Decision::ImplicitDeny => {
                if let Some(pinned) = external_id_pins(&doc, first, action) {
                    // EKS sets the external id with session tags off (user guide); whether it also sends it with
                    // them on is not documented: a pin on this association's own id then only warns.
                    if !hop.tags_disabled
                        && hop
                            .external_id
                            .as_deref()
                            .is_some_and(|ours| pinned.split(", ").any(|p| p == ours))
                    {
                        return base(Outcome::warn(
                            Code::TargetTrustConditionsUnknown,
                            format!(
                                "the trust policy of {target} requires this association's sts:ExternalId for {action}; \
                                 EKS documents setting it when session tags are off, and this association has them \
                                 on: whether it is sent is not documented"
                            ),
                        ))
                        .evidence(evidence);
                    }
                    let ours = match (&hop.external_id, hop.tags_disabled) {
                        (Some(id), true) => id.clone(),
                        _ => "none (session tags are on, so EKS sends no external id)".to_string(),
                    };
                    return base(Outcome::fail(
                        Code::TargetExternalIdMismatch,
                        format!(
                            "the trust policy of {target} requires sts:ExternalId {pinned} for {action}; this \
                             association's is {ours}"
                        ),
                    ))
                    .var("found", pinned)
                    .evidence(evidence);
                }
                return base(Outcome::fail(
                    Code::TargetTrustExcludesFirstRole,
                    format!("the trust policy of {target} does not allow {first} {action}"),
                ))
                .var("found", action)
                .evidence(evidence);
            }
        }
    }
    let may_conditional: Vec<&str> = may
        .iter()
        .filter(|(_, d)| *d != Decision::Allowed)
        .map(|(a, _)| *a)
        .collect();
    if !conditional.is_empty() || !may_conditional.is_empty() {
        let what: Vec<String> = conditional
            .iter()
            .map(|a| format!("the target's trust allows {a} only under conditions"))
            .chain(
                may_conditional
                    .iter()
                    .map(|a| format!("{first}'s policies allow {a} only under conditions")),
            )
            .collect();
        return base(Outcome::warn(
            Code::TargetTrustConditionsUnknown,
            format!(
                "{} the doctor cannot evaluate for this hop; pod.s3-list settles it from a running pod",
                what.join("; ")
            ),
        ))
        .evidence(evidence);
    }
    base(Outcome::pass(format!(
        "role {first} may assume the association's target role {target}, and its trust allows it{}",
        if hop.tags_disabled {
            " with this association's external id"
        } else {
            " with the session tags EKS passes on"
        }
    )))
    .evidence(evidence)
}

/// The `sts:ExternalId` values an Allow statement for `principal` and `action` requires, when one does.
fn external_id_pins(doc: &Policy, principal: &str, action: &str) -> Option<String> {
    let pins: Vec<String> = doc
        .statements
        .iter()
        .filter(|st| st.effect == Some(Effect::Allow))
        .filter(|st| {
            st.applies(&Request {
                principal: Some(("AWS", principal)),
                action,
                resource: None,
                known: Known::Nothing,
            }) != policy::Applies::No
        })
        .flat_map(|st| &st.conditions)
        .filter(|c| c.key.eq_ignore_ascii_case("sts:ExternalId") && !c.operator.contains("Not"))
        .flat_map(|c| c.values.clone())
        .collect();
    (!pins.is_empty()).then(|| pins.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Status;

    fn hop(tags_disabled: bool) -> Hop {
        Hop {
            first_role_arn: "arn:aws:iam::111122223333:role/First".into(),
            account: "111122223333".into(),
            target_role_arn: "arn:aws:iam::111122223333:role/Target".into(),
            external_id: Some("us-west-2/111122223333/c/ns/sa".into()),
            tags_disabled,
            tags: BTreeMap::new(),
        }
    }

    fn trust_pinning(id: &str) -> TargetTrust {
        TargetTrust::Read(Policy::from_value(&json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": ["sts:AssumeRole", "sts:TagSession"],
             "Condition": {"StringEquals": {"sts:ExternalId": id}}}]})))
    }

    #[test]
    fn an_external_id_pin_fails_only_where_eks_documents_sending_it() {
        let may = [
            ("sts:AssumeRole", Decision::Allowed),
            ("sts:TagSession", Decision::Allowed),
        ];
        let ours = "us-west-2/111122223333/c/ns/sa";
        // Tags off: EKS sends it; this association's id passes, another's fails naming both.
        assert_eq!(evaluate(&hop(true), &may, &trust_pinning(ours)).status, Status::Pass);
        let o = evaluate(&hop(true), &may, &trust_pinning("other"));
        assert_eq!(o.code, Some(Code::TargetExternalIdMismatch));
        assert!(o.message.contains("other") && o.message.contains(ours), "{}", o.message);
        // Tags on: not documented either way; a pin on this association's own id only warns.
        let o = evaluate(&hop(false), &may, &trust_pinning(ours));
        assert_eq!(
            (o.status, o.code),
            (Status::Warn, Some(Code::TargetTrustConditionsUnknown)),
            "{}",
            o.message
        );
    }
}
