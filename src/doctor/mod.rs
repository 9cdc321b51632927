//! `skys3 doctor`: the run's rules (which contexts, which variable gives way to which flag, suppressions), then
//! for each target: resolve it, wire the probe layer to AWS and the cluster, run the checks through the engine and
//! assemble the one report every renderer reads. The CLI only parses flags and prints; everything between is here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::check::{CheckSpec, Ctx};
use crate::checks::{self, REGISTRY};
use crate::engine::{self, Limits};
use crate::probe::aws::{self, AwsClients};
use crate::probe::credentials::BotocoreChain;
use crate::probe::facts::{AccountFacts, BucketFacts};
use crate::probe::kube::KubeClient;
use crate::probe::local_aws::{self, LocalEnv};
use crate::probe::{AwsApi, CallLog, Facts, KubeApi};
use crate::report::{Document, Report, SkippedContext, TargetsReport};
use crate::suppress::Suppressions;
use crate::target::{self, Field, Given, Input, InputError, Local, Request, Resolved};

/// Progress callback: (checks done, checks in all).
pub type Progress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// How a run goes, beyond what it checks.
#[derive(Clone, Default)]
pub struct Options {
    /// `--timeout`: the whole run's deadline.
    pub timeout: Duration,
    /// `--check-timeout`: each check's (and each request's) own timeout.
    pub check_timeout: Duration,
    /// `--suppressions`, already read.
    pub suppressions: Option<Suppressions>,
    /// `--redact`.
    pub redact: bool,
    /// The user's home directory, which `--redact` writes as `~`.
    pub home: Option<std::path::PathBuf>,
    /// Called as checks finish.
    pub progress: Option<Progress>,
    /// `--wait`: rerun the checks that do not pass, with backoff, until they do or this much time has passed.
    pub wait: Option<Duration>,
    /// Run only these checks (and what they depend on); the others are left out of the report.
    pub only: Option<BTreeSet<String>>,
    /// When the whole run started: `--timeout` and `--wait` count from here for every target of a run over
    /// several, not from when a target got its turn. `None`: from this target's start.
    pub run_started: Option<tokio::time::Instant>,
    /// Names the target in progress lines (a run over several targets).
    pub label: Option<String>,
}

/// A `skys3 doctor` invocation as the user gave it, free of any CLI library.
pub struct Invocation {
    /// What to check; its `inputs.context` is left empty: [`Invocation::contexts`] decides it.
    pub request: Request,
    /// `--context` (or `KUBE_CONTEXT`) values, each with its origin.
    pub contexts: Vec<Input>,
    /// `--all-contexts`.
    pub all_contexts: bool,
    /// `--jobs`: with several contexts, how many are checked at once.
    pub jobs: usize,
    /// `--suppressions`, not yet read.
    pub suppressions: Option<std::path::PathBuf>,
    /// How the run goes (its `suppressions` are read from [`Invocation::suppressions`]).
    pub options: Options,
}

/// Runs an invocation: one target, or several when several contexts (a glob, `--all-contexts`) are asked for.
/// `notice` gets the lines worth telling the user on stderr before the report (an ignored variable, a context
/// left out and why).
pub async fn invoke(inv: Invocation, notice: &dyn Fn(&str)) -> Result<Document, InputError> {
    let Invocation {
        request: mut req,
        contexts,
        all_contexts,
        jobs,
        suppressions,
        mut options,
    } = inv;
    // KUBE_CONTEXT, as the guide exports it, names the one context of a one-target run; --all-contexts picks its
    // own (added to it, a stale or unrelated KUBE_CONTEXT would be checked, or stop the run).
    let contexts: Vec<Input> = if all_contexts && contexts.iter().any(|c| c.given == Given::Env) {
        notice(&format!(
            "{} is ignored with --all-contexts: SkyPilot's contexts are checked",
            Field::Context.env()
        ));
        contexts.into_iter().filter(|c| c.given == Given::Flag).collect()
    } else {
        contexts
    };
    let multi = all_contexts || contexts.len() > 1 || contexts.iter().any(|c| target::is_glob(&c.value));
    if !multi {
        req.inputs.context = contexts.first().cloned();
    } else if req.offline {
        return Err(InputError(
            "--offline checks no cluster: it takes neither --all-contexts nor several contexts".into(),
        ));
    } else {
        for field in [Field::Cluster, Field::Region] {
            let input = req.inputs.get_mut(field);
            match input.as_ref().map(|i| i.given) {
                Some(Given::Flag) => {
                    let flag = format!("--{}", field.flag());
                    return Err(InputError(format!(
                        "{flag} names one cluster; with several contexts each is checked with its own cluster and \
                         region (drop {flag})"
                    )));
                }
                // The guide has users export these: with several contexts they would point every target at one
                // cluster. The region stays the fallback of a context that names none.
                Some(Given::Env) if field == Field::Cluster => {
                    notice(&format!(
                        "{} is ignored with several contexts: each context names its own cluster",
                        field.env()
                    ));
                    *input = None;
                }
                _ => {}
            }
        }
    }
    // Read before anything runs: a bad suppressions file is an input error, not a finding.
    if let Some(path) = &suppressions {
        options.suppressions = Some(Suppressions::load(path).map_err(InputError)?);
    }
    if !multi {
        return Ok(Document::Single(Box::new(run(&req, &options).await?)));
    }
    let local = Local::discover(&req)?;
    let patterns: Vec<String> = contexts.iter().map(|c| c.value.clone()).collect();
    let (selected, skipped) = target::select_contexts(&local, &patterns, all_contexts)?;
    for s in &skipped {
        notice(&format!("not checking context {}: {}", s.context, s.reason));
    }
    let reqs: Vec<Request> = selected
        .iter()
        .map(|c| target::request_for_context(&req, &local, c))
        .collect();
    Ok(Document::Targets(
        run_targets(&reqs, local, skipped, &options, jobs).await?,
    ))
}

/// Runs the doctor against the real AWS and cluster (or offline: the SkyPilot config checks only). With
/// [`Options::wait`], the checks that do not pass run again (with fresh facts: IAM, the association and the agent
/// take seconds to minutes to propagate) until all pass or the time is up; the report is the last word on each.
pub async fn run(req: &Request, opts: &Options) -> Result<Report, InputError> {
    let local = Local::discover(req)?;
    let resolved = target::resolve(req, local.clone(), aws::profile_region).await?;
    run_one(req, local, resolved, opts, None).await
}

/// The user's own AWS credentials for a run: the chain botocore would pick, resolved once and fetched once (one SSO
/// call, one credential process), for every target and every `--wait` pass.
#[derive(Clone)]
struct Login {
    source: Result<local_aws::CredentialChoice, local_aws::CredentialProblem>,
    chain: Arc<BotocoreChain>,
}

impl Login {
    /// Resolves and prepares the chain; the credentials are fetched on first use.
    async fn new(base: &aws::BaseConfig, opts: &Options) -> Login {
        let source = local_aws::resolve(&LocalEnv::real()).await;
        // A credential_process gets less than the check's own bound, so that a hung one is reported as such rather
        // than as the check timing out.
        let chain = Arc::new(BotocoreChain::new(
            source.clone(),
            base.clone(),
            opts.check_timeout.mul_f64(0.75),
        ));
        Login { source, chain }
    }

    /// Whether the next `--wait` pass needs a new login: the last gave no credentials, they are about to expire,
    /// or AWS refused them (aws.identity did not pass; the user may have logged in again meanwhile).
    fn stale(&self, report: &Report) -> bool {
        self.chain.needs_renewal()
            || report.checks.iter().any(|c| {
                c.id == "aws.identity"
                    && matches!(
                        c.status,
                        crate::report::Status::Fail | crate::report::Status::Inconclusive
                    )
            })
    }
}

/// What the targets of one run share: the user's credentials and the account-wide facts (identity, IAM).
struct Shared {
    login: Login,
    /// The account-wide facts per partition (IAM is separate in `aws`, `aws-cn`, `aws-us-gov`): a target in
    /// another partition must get its own answer, not another partition's.
    accounts: std::collections::HashMap<String, Arc<AccountFacts>>,
    /// The SDK config per region: loading one reads the profile files and builds an HTTPS client (TLS roots),
    /// which fifty targets in one region need to do only once.
    bases: std::collections::HashMap<String, aws::BaseConfig>,
    /// The bucket facts per region (each region's clients ask S3 in that region).
    buckets: std::collections::HashMap<String, Arc<BucketFacts>>,
}

/// Runs the doctor on several targets (one request per kube context, over the `local` files they were selected
/// from), at most `jobs` at once, sharing the
/// credentials and the account-wide facts: one account's IAM role and policies are fetched once for all. Each
/// target is resolved first, so a bad input stops the run before any request. With [`Options::wait`], each
/// target reruns what does not pass on its own, with fresh facts.
pub async fn run_targets(
    reqs: &[Request],
    local: Local,
    skipped: Vec<SkippedContext>,
    opts: &Options,
    jobs: usize,
) -> Result<TargetsReport, InputError> {
    if reqs.is_empty() {
        return Ok(TargetsReport::new(vec![], skipped));
    }
    let (redact, home) = (opts.redact, opts.home.clone());
    let mut resolved = Vec::with_capacity(reqs.len());
    for req in reqs {
        let r = target::resolve(req, local.clone(), aws::profile_region)
            .await
            .map_err(|e| {
                InputError(format!(
                    "context {}: {e}",
                    req.inputs.context.as_ref().map(|c| c.value.as_str()).unwrap_or("-")
                ))
            })?;
        resolved.push(r);
    }
    let mut bases = std::collections::HashMap::new();
    for r in &resolved {
        if !bases.contains_key(&r.region) {
            bases.insert(r.region.clone(), aws::base_config(&r.region, opts.check_timeout).await);
        }
    }
    let shared = Shared {
        login: Login::new(&bases[&resolved[0].region], opts).await,
        accounts: bases
            .keys()
            .map(|r| (crate::arn::partition_of_region(r).to_string(), Arc::default()))
            .collect(),
        buckets: bases.keys().map(|r| (r.clone(), Arc::default())).collect(),
        bases,
    };
    // Per-check progress lines of several targets would interleave; redaction is done once over the whole
    // document, so that one value has one mask in every target.
    let opts = Options {
        progress: None,
        redact: false,
        run_started: Some(tokio::time::Instant::now()),
        ..opts.clone()
    };
    let per_target: Vec<Options> = reqs
        .iter()
        .map(|r| Options {
            label: r.inputs.context.as_ref().map(|c| c.value.clone()),
            ..opts.clone()
        })
        .collect();
    let reports: Vec<Result<Report, InputError>> = futures::stream::iter(reqs.iter().zip(resolved).zip(&per_target))
        .map(|((req, r), o)| run_one(req, local.clone(), r, o, Some(&shared)))
        .buffered(jobs.max(1))
        .collect()
        .await;
    let targets = reports.into_iter().collect::<Result<Vec<_>, _>>()?;
    let report = TargetsReport::new(targets, skipped);
    Ok(if redact {
        crate::redact::redact_targets(&report, home.as_deref())
    } else {
        report
    })
}

/// One target, already resolved, with its `--wait` loop; the first pass uses `shared` facts when given. Reruns
/// resolve the target again and start from fresh facts and credentials.
async fn run_one(
    req: &Request,
    local: Local,
    resolved: Resolved,
    opts: &Options,
    shared: Option<&Shared>,
) -> Result<Report, InputError> {
    let waited_from = opts.run_started.unwrap_or_else(tokio::time::Instant::now);
    let base = match shared.and_then(|s| s.bases.get(&resolved.region)) {
        Some(b) => b.clone(),
        None => aws::base_config(&resolved.region, opts.check_timeout).await,
    };
    let mut login = match shared {
        Some(s) => Some(s.login.clone()),
        None if !req.offline => Some(Login::new(&base, opts).await),
        None => None,
    };
    let mut report = run_pass(req.offline, resolved, opts, &base, login.as_ref(), shared).await;
    if let Some(wait) = opts.wait {
        let deadline = waited_from + wait;
        let mut delay = Duration::from_secs(2);
        loop {
            let pending: BTreeSet<String> = report
                .checks
                .iter()
                .filter(|c| !settled(c))
                .map(|c| c.id.clone())
                .collect();
            if pending.is_empty() || tokio::time::Instant::now() + delay > deadline {
                break;
            }
            eprintln!(
                "skys3: {}{} of {} not passing yet: {} (retry in {} s)",
                opts.label.as_deref().map(|l| format!("{l}: ")).unwrap_or_default(),
                pending.len(),
                report.checks.len(),
                pending.iter().cloned().collect::<Vec<_>>().join(", "),
                delay.as_secs()
            );
            tokio::time::sleep(delay).await;
            // Fresh facts each pass, the same login unless it is no longer good.
            if let Some(l) = &login
                && l.stale(&report)
            {
                login = Some(Login::new(&base, opts).await);
            }
            let again = run_pass(
                req.offline,
                target::resolve(req, local.clone(), aws::profile_region).await?,
                &Options {
                    only: Some(pending),
                    ..opts.clone()
                },
                &base,
                login.as_ref(),
                None,
            )
            .await;
            for c in again.checks {
                if let Some(slot) = report.checks.iter_mut().find(|old| old.id == c.id) {
                    *slot = c;
                }
            }
            report.calls.extend(again.calls);
            report.refresh_status();
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
    Ok(finish(report, opts))
}

/// Whether a check needs no rerun: it passed, warned (a warning is a standing verdict on the setup, such as a
/// condition the doctor cannot evaluate, not something propagation settles; waiting on it would always use up the
/// whole duration), or does not apply (other mode, nothing to check).
fn settled(c: &crate::report::CheckReport) -> bool {
    use crate::code::Code;
    use crate::report::Status;
    match c.status {
        Status::Pass | Status::Warn | Status::Suppressed => true,
        Status::Skip => c.code.is_some_and(Code::does_not_apply),
        _ => false,
    }
}

/// One pass of the checks (all of them, or [`Options::only`]), before suppressions and redaction, with `login`'s
/// credentials (none offline). With `shared`, the account-wide facts of the run's other targets; without, the pass
/// starts with empty facts.
async fn run_pass(
    offline: bool,
    resolved: Resolved,
    opts: &Options,
    base: &aws::BaseConfig,
    login: Option<&Login>,
    shared: Option<&Shared>,
) -> Report {
    let started = tokio::time::Instant::now();
    let log = CallLog::default();
    let facts = match login.filter(|_| !offline) {
        None => Facts::new(None, None),
        Some(login) => {
            let (account, buckets) = match shared {
                Some(s) => (
                    s.accounts
                        .get(crate::arn::partition_of_region(&resolved.region))
                        .cloned()
                        .unwrap_or_default(),
                    s.buckets.get(&resolved.region).cloned().unwrap_or_default(),
                ),
                None => (Arc::default(), Arc::default()),
            };
            // The clients' credentials and aws.identity's verdict come from the same answer.
            let aws: Arc<dyn AwsApi> = Arc::new(AwsClients::new(
                base,
                opts.check_timeout,
                log.clone(),
                login.chain.clone(),
            ));
            let kube_client = Arc::new(KubeClient::new(
                resolved.kubeconfig.clone(),
                resolved.context.clone(),
                opts.check_timeout,
                log.clone(),
            ));
            // TLS roots and kubeconfig are loaded while the first AWS requests are in flight.
            let warm = kube_client.clone();
            tokio::spawn(async move { warm.prepare().await });
            let kube: Arc<dyn KubeApi> = kube_client;
            Facts::new(Some(aws), Some(kube))
                .with_credential_source(login.source.clone())
                .with_account(account)
                .with_buckets(buckets)
        }
    };
    let mut report = check(Ctx::new(resolved, facts), offline, opts, started).await;
    report.calls = log.snapshot();
    report
}

/// Runs the checks over a context whose facts may come from any [`AwsApi`] and [`KubeApi`] (the real clients, or
/// the test suite's in-memory fakes), and returns the report before suppressions and redaction.
pub async fn check(ctx: Ctx, offline: bool, opts: &Options, started: tokio::time::Instant) -> Report {
    let ctx = Arc::new(ctx.with_check_timeout(opts.check_timeout));
    let limits = Limits {
        check_timeout: opts.check_timeout,
        deadline: opts.run_started.map_or(started, |r| r.min(started)) + opts.timeout,
        run_timeout: opts.timeout,
    };
    let registry = if offline { checks::OFFLINE } else { REGISTRY };
    let specs: Vec<&'static CheckSpec> = match &opts.only {
        Some(only) => engine::with_deps(registry, only),
        None => registry.iter().collect(),
    };
    let results = engine::run(ctx.clone(), &specs, limits, opts.progress.clone()).await;
    let mut target = ctx.target.to_target();
    if let Some(w) = ctx.wiring_in_force() {
        target.mode = w.as_str().to_string();
    }
    if !offline && let Ok(r) = ctx.facts.credential_source().await {
        target.sources.insert("credentials".into(), r.source.describe());
    }
    Report::new(target, results)
}

/// Applies suppressions (dated today) and redaction.
pub fn finish(mut report: Report, opts: &Options) -> Report {
    if let Some(s) = &opts.suppressions {
        s.apply(&mut report, jiff::Zoned::now().date());
    }
    if opts.redact {
        report = crate::redact::redact(&report, opts.home.as_deref());
    }
    report
}
