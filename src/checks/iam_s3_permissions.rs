//! `iam.s3-permissions`: the role's policies (and boundary) grant what SkyPilot's S3 mounts need.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::join_all;
use serde::Serialize;
use serde_json::json;

use crate::check::{CheckSpec, Ctx, Outcome};
use crate::code::Code;
use crate::merge::{DocumentChange, DocumentRef, Edit};
use crate::policy::{self, Decision, Policy};
use crate::probe::{Op, ProbeError, SimulationResult};
use crate::{arn, guide};

/// Registration.
pub const SPEC: CheckSpec = CheckSpec {
    id: "iam.s3-permissions",
    deps: &["iam.role"],
    // The checked role's facts, as the run begins (a target role's, rarer, are read when the wiring is known).
    warm: Some(|ctx: Arc<Ctx>| {
        async move {
            judge(&ctx, &ctx.target.role_name).await;
        }
        .boxed()
    }),
    run: |ctx: Arc<Ctx>| async move { run(&ctx).await }.boxed(),
};

/// The (action, resource) pairs SkyPilot's mounts need on `bucket`.
pub fn required(partition: &str, bucket: &str) -> Vec<(String, String)> {
    let b = format!("arn:{partition}:s3:::{bucket}");
    let o = format!("{b}/*");
    vec![
        ("s3:ListBucket".into(), b.clone()),
        ("s3:GetBucketLocation".into(), b),
        ("s3:GetObject".into(), o.clone()),
        ("s3:PutObject".into(), o.clone()),
        ("s3:DeleteObject".into(), o),
    ]
}

/// The simulator's action names and resource ARNs for the needed pairs.
pub fn simulation_args(required: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let actions = required.iter().map(|(a, _)| a.clone()).collect();
    let mut resources: Vec<String> = required.iter().map(|(_, r)| r.clone()).collect();
    resources.dedup();
    (actions, resources)
}

/// One needed permission and how the policies decide it.
#[derive(Debug, Clone, Serialize)]
pub struct Need {
    /// Action.
    pub action: String,
    /// Resource.
    pub resource: String,
    /// Identity policies and boundary together.
    pub decision: Decision,
    /// Identity policies alone.
    pub identity_only: Decision,
}

/// Fetches a managed policy's default version document.
pub(crate) async fn managed(ctx: &Ctx, arn: &str) -> Result<(String, Policy), ProbeError> {
    let p = ctx.facts.policy(arn).await?;
    let doc = ctx.facts.policy_version(arn, &p.default_version).await?;
    let parsed = policy::parse_document(&doc).map_err(|e| {
        ProbeError::new(
            Op::GetPolicyVersion,
            crate::probe::ErrorKind::Other,
            None,
            format!("{arn}: {e}"),
        )
    })?;
    Ok((arn.to_string(), parsed))
}

/// The role's identity policies (managed default versions and inline documents, with their names) and its
/// permissions boundary, each fetched once per run through the memoized facts.
pub(crate) async fn role_policies(
    ctx: &Ctx,
    role_name: &str,
    boundary_arn: Option<&str>,
) -> Result<(Vec<Policy>, Vec<String>, Option<(String, Policy)>), ProbeError> {
    // Two independent chains (the attached policies' documents, the inline ones'): neither waits for the other's
    // list, so the documents come one request after their list.
    let managed_docs = async {
        let attached = ctx.facts.attached_policies(role_name).await?;
        Ok::<_, ProbeError>(join_all(attached.iter().map(|arn| managed(ctx, arn))).await)
    };
    let inline_docs = async {
        let names = ctx.facts.inline_policy_names(role_name).await?;
        Ok::<_, ProbeError>(
            join_all(names.iter().map(|name| async move {
                let doc = ctx.facts.inline_policy(role_name, name).await?;
                policy::parse_document(&doc).map(|p| (name.clone(), p)).map_err(|e| {
                    ProbeError::new(
                        Op::GetRolePolicy,
                        crate::probe::ErrorKind::Other,
                        None,
                        format!("{name}: {e}"),
                    )
                })
            }))
            .await,
        )
    };
    let boundary = async {
        match boundary_arn {
            Some(arn) => managed(ctx, arn).await.map(Some),
            None => Ok(None),
        }
    };
    let (managed_docs, inline_docs, boundary) = futures::join!(managed_docs, inline_docs, boundary);
    let (managed_docs, inline_docs) = (managed_docs?, inline_docs?);
    let mut policies = Vec::new();
    let mut names = Vec::new();
    for r in managed_docs.into_iter().chain(inline_docs) {
        let (name, p) = r?;
        names.push(name);
        policies.push(p);
    }
    Ok((policies, names, boundary?))
}

/// Judges the role the pods get: the checked role, or the association's target role (whose policies decide what
/// the pods may do; in another account it cannot be read, and the check says so).
async fn run(ctx: &Ctx) -> Outcome {
    match ctx.judged_role().await {
        Ok(role_name) if role_name == ctx.target.role_name => judge(ctx, &role_name).await,
        Ok(role_name) => judge(ctx, &role_name).await.var("role_name", role_name),
        Err(o) => o,
    }
}

/// Decides whether `role_name`'s policies grant the mount's S3 actions on the bucket.
async fn judge(ctx: &Ctx, role_name: &str) -> Outcome {
    let t = &ctx.target;
    let (role, attached, id) = futures::join!(
        ctx.facts.role(role_name),
        ctx.facts.attached_policies(role_name),
        ctx.facts.caller_identity(),
    );
    let (role, attached, id) = match (role, attached, id) {
        (Ok(r), Ok(a), Ok(id)) => (r, a, id),
        (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => return Outcome::from_error(&e),
    };
    let required = required(id.partition(), &t.bucket);
    let (actions, resources) = simulation_args(&required);
    // Every document is fetched concurrently: they do not depend on each other.
    let (docs, simulation) = futures::join!(
        role_policies(ctx, role_name, role.boundary_arn.as_deref()),
        ctx.facts.simulate(&role.arn, &actions, &resources)
    );
    let (policies, sources, boundary) = match docs {
        Ok(d) => d,
        Err(e) => return Outcome::from_error(&e),
    };
    let needs: Vec<Need> = required
        .iter()
        .map(|(a, r)| Need {
            action: a.clone(),
            resource: r.clone(),
            decision: policy::evaluate_with_boundary(&policies, boundary.as_ref().map(|(_, p)| p), a, r),
            identity_only: policy::evaluate(&policies, a, r),
        })
        .collect();

    let policy_arn = arn::policy_arn(&id, &t.policy_name);
    let named_policy = if needs.iter().any(|n| n.decision == Decision::ImplicitDeny) && !attached.contains(&policy_arn)
    {
        Some(ctx.facts.policy(&policy_arn).await)
    } else {
        None
    };
    let expected_unattached = matches!(named_policy, Some(Ok(_)));
    // The fix script creates the guide's policy only where none by that name exists; an existing one that grants
    // too little gets the missing actions added in a new version (it may serve other buckets: nothing is removed).
    let creatable = matches!(&named_policy, Some(Err(e)) if e.is_not_found());
    let evidence = json!({
        "role": role.arn,
        "policies": sources,
        "boundary": boundary.as_ref().map(|(arn, _)| arn),
        "decisions": needs,
        "simulator": match &simulation {
            Ok(results) => json!(results),
            Err(e) => json!({ "unavailable": e.to_string() }),
        },
    });
    let s3_policy = guide::s3_policy(id.partition(), &t.bucket);
    // The guide's own way (create its policy, attach it) only where no policy of the role grants any of it and
    // none by that name exists. Otherwise the missing actions are added: to the guide's policy when it is the
    // role's (a new version), else in an inline policy granting exactly them (an AWS-managed policy, one the guide
    // does not name). Nothing is removed: a policy may serve other buckets.
    let create_guide = creatable && needs.iter().all(|n| n.identity_only == Decision::ImplicitDeny);
    let read_of = |name: &str| {
        sources
            .iter()
            .position(|s| s == name)
            .map(|i| policies[i].source.clone())
    };
    let addition = || {
        let (document, read) = match read_of(&policy_arn) {
            Some(doc) => (
                DocumentRef::ManagedPolicy {
                    policy_arn: policy_arn.clone(),
                },
                Some(doc),
            ),
            None => {
                let policy_name = inline_policy_name(&t.bucket);
                let read = read_of(&policy_name);
                (
                    DocumentRef::InlinePolicy {
                        role: role_name.to_string(),
                        policy_name,
                    },
                    read,
                )
            }
        };
        let edits = missing_statements(&needs);
        (!edits.is_empty()).then_some(DocumentChange { document, read, edits })
    };
    let mut outcome = evaluate(role_name, &needs, expected_unattached, simulation.ok().as_deref())
        .var("policy_arn", policy_arn.clone())
        .var("role_arn", role.arn.clone())
        .var("s3_policy_json", s3_policy.clone());
    if create_guide {
        outcome = outcome.var("new_s3_policy_json", s3_policy);
    }
    if outcome.code == Some(Code::S3ActionsMissing) && !create_guide {
        outcome = outcome.change(addition());
    }
    outcome.evidence(evidence)
}

/// The inline policy the fix writes when the missing actions cannot go into the guide's own policy.
pub fn inline_policy_name(bucket: &str) -> String {
    format!("skys3-s3-access-{bucket}")
}

/// One statement per resource granting exactly the actions nothing allows yet (not those a boundary blocks: a
/// grant cannot fix those).
fn missing_statements(needs: &[Need]) -> Vec<Edit> {
    let mut by_resource: Vec<(&str, Vec<&str>)> = Vec::new();
    for n in needs.iter().filter(|n| n.identity_only == Decision::ImplicitDeny) {
        match by_resource.iter_mut().find(|(r, _)| *r == n.resource) {
            Some((_, actions)) => actions.push(&n.action),
            None => by_resource.push((&n.resource, vec![&n.action])),
        }
    }
    by_resource
        .into_iter()
        .map(|(resource, actions)| Edit::AddStatement {
            statement: json!({"Effect": "Allow", "Action": actions, "Resource": resource}),
        })
        .collect()
}

fn list(needs: &[&Need]) -> String {
    needs
        .iter()
        .map(|n| format!("{} on {}", n.action, n.resource))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Decides over the per-permission decisions, whether the expected policy exists unattached, and the
/// simulator's results when it could be asked.
pub fn evaluate(
    role: &str,
    needs: &[Need],
    expected_unattached: bool,
    simulation: Option<&[SimulationResult]>,
) -> Outcome {
    let with = |d: &[Decision]| needs.iter().filter(|n| d.contains(&n.decision)).collect::<Vec<_>>();
    let denied = with(&[Decision::ExplicitDeny]);
    if !denied.is_empty() {
        let found = list(&denied);
        return Outcome::fail(
            Code::S3ExplicitDeny,
            format!("an explicit Deny in {role}'s policies blocks {found}"),
        )
        .var("found", found);
    }
    let missing = with(&[Decision::ImplicitDeny]);
    if !missing.is_empty() {
        let found = list(&missing);
        let by_boundary = missing.iter().all(|n| n.identity_only != Decision::ImplicitDeny);
        if by_boundary {
            return Outcome::fail(
                Code::S3BoundaryBlocks,
                format!("the permissions boundary of {role} does not allow {found}"),
            )
            .var("found", found);
        }
        if expected_unattached {
            return Outcome::fail(
                Code::S3PolicyUnattached,
                format!("the S3 policy exists but is not attached to {role}, which lacks {found}"),
            )
            .var("found", found);
        }
        return Outcome::fail(Code::S3ActionsMissing, format!("no policy of {role} allows {found}"))
            .var("found", found);
    }
    let conditional = with(&[Decision::ConditionallyAllowed, Decision::ConditionallyDenied]);
    if !conditional.is_empty() {
        let found = list(&conditional);
        return Outcome::warn(
            Code::S3ConditionalAccess,
            format!("{role} gets {found} only under conditions"),
        )
        .var("found", found);
    }
    // Static verdict: allowed. The simulator also sees SCPs; a disagreement is worth showing.
    if let Some(results) = simulation {
        let disagree: Vec<String> = needs
            .iter()
            .filter_map(|n| {
                let r = results
                    .iter()
                    .find(|r| r.action.eq_ignore_ascii_case(&n.action) && r.resource == n.resource)?;
                (r.decision != "allowed")
                    .then(|| format!("{} on {}: simulator says {}", n.action, n.resource, r.decision))
            })
            .collect();
        if !disagree.is_empty() {
            let found = disagree.join("; ");
            return Outcome::warn(
                Code::SimulatorDisagrees,
                format!("the policies of {role} allow every needed S3 action, but IAM's simulator disagrees: {found}"),
            )
            .var("found", found);
        }
    }
    let how = if simulation.is_some() {
        " (the IAM simulator agrees)"
    } else {
        ""
    };
    Outcome::pass(format!("{role} may list, read, write and delete in the bucket{how}"))
}
