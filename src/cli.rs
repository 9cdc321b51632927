//! The command line: clap definitions kept apart from the logic, and the `run` entry point the binary calls.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::catalog::{COMMON_ID, Catalog};
use crate::checks::REGISTRY;
use crate::engine::{self, Ctx, Limits};
use crate::exit;
use crate::probe::aws::{self, AwsClients};
use crate::probe::kube::KubeClient;
use crate::probe::{AwsApi, CallLog, Facts, KubeApi};
use crate::render;
use crate::report::Report;
use crate::target::{self, Given, Input, InputError, Inputs};

/// skys3: a read-only doctor for SkyPilot pods reaching S3 through an IAM role on EKS.
#[derive(Debug, Parser)]
#[command(name = "skys3", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Walk the chain (EKS, IAM, Kubernetes, SkyPilot config) with read-only probes and report what is broken.
    Doctor(Box<DoctorArgs>),
    /// List every check: id, title, and its codes.
    Checks {
        /// Print the catalog as Markdown (the README's check list is this output).
        #[arg(long)]
        markdown: bool,
    },
    /// Explain a code: what it means and its remediation template.
    Explain {
        /// A code such as SKY121, or an error text pasted from a pod or a log (quote it).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Print the JSON Schema of the `-o json` document.
    Schema,
    /// Print the least-privilege IAM policy and Kubernetes RBAC the doctor itself needs.
    Permissions,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Wiring mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Detect from the cluster (association or annotation).
    Auto,
    /// EKS Pod Identity.
    PodIdentity,
    /// IAM roles for service accounts.
    Irsa,
}

impl Mode {
    /// The name used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::PodIdentity => "pod-identity",
            Mode::Irsa => "irsa",
        }
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table for people.
    Table,
    /// One JSON document (schema_version 1; `skys3 schema` prints its JSON Schema).
    Json,
    /// A Markdown report for a support ticket: findings, evidence, fixes and every API call.
    Markdown,
    /// JUnit XML, one test case per check, for CI test reporters.
    Junit,
}

/// Which findings make the exit code 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Failures only (warnings exit 0).
    Fail,
    /// Failures and warnings.
    Warn,
}

/// When to colour the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `skys3 doctor` options. The environment variables are the ones the guide tells users to export.
#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    /// EKS cluster name.
    #[arg(long, env = "EKS_CLUSTER_NAME", value_name = "NAME")]
    pub cluster: Option<String>,
    /// AWS region of the cluster (else the kube context's, else the AWS profile's).
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Kube context (else the kubeconfig's current context; KUBECONFIG honoured).
    #[arg(long, env = "KUBE_CONTEXT", value_name = "CTX")]
    pub context: Option<String>,
    /// S3 bucket the pods must reach (else from --task).
    #[arg(long, env = "S3_BUCKET", value_name = "NAME")]
    pub bucket: Option<String>,
    /// Namespace of SkyPilot's pods (else SkyPilot's kubernetes.namespace, the context's namespace, "default").
    #[arg(short = 'n', long, env = "K8S_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// Service account the role is wired to [default: skypilot-service-account].
    #[arg(long, env = "K8S_SERVICE_ACCOUNT", value_name = "SA")]
    pub service_account: Option<String>,
    /// IAM role name [default: SkyPilotS3Role-<bucket>].
    #[arg(long, env = "IAM_ROLE_NAME", value_name = "NAME")]
    pub role_name: Option<String>,
    /// IAM policy name [default: SkyPilotS3Access-<bucket>].
    #[arg(long, env = "IAM_POLICY_NAME", value_name = "NAME")]
    pub policy_name: Option<String>,
    /// Wiring mode: detect it, or force one.
    #[arg(long, value_enum, default_value_t = Mode::Auto)]
    pub mode: Mode,
    /// A SkyPilot config file to read instead of SkyPilot's own lookup.
    #[arg(long, value_name = "PATH")]
    pub sky_config: Option<PathBuf>,
    /// Limit pod checks to this SkyPilot cluster's pods.
    #[arg(long, value_name = "NAME")]
    pub sky_cluster: Option<String>,
    /// A SkyPilot task YAML: the bucket comes from its s3:// file_mounts.
    #[arg(long, value_name = "PATH")]
    pub task: Option<PathBuf>,
    /// Never exec into pods.
    #[arg(long)]
    pub no_exec: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Overall deadline in seconds.
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Each check's own timeout in seconds.
    #[arg(long, default_value_t = 20, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub check_timeout: u64,
    /// Colour in the table.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Exit 1 on failures only, or on warnings too.
    #[arg(long, value_enum, default_value_t = FailOn::Fail)]
    pub fail_on: FailOn,
    /// A TOML file of accepted findings (check or code, optional resource, reason, optional expiry date).
    #[arg(long, value_name = "PATH")]
    pub suppressions: Option<PathBuf>,
    /// Mask account ids, ARNs' account part, the cluster endpoint host and the bucket name (consistently), for
    /// reports sent outside the company.
    #[arg(long)]
    pub redact: bool,
    /// Only the checks that need neither AWS nor the cluster (the SkyPilot config checks).
    #[arg(long)]
    pub offline: bool,
}

/// Reads the value and origin of a flag that also has an environment variable. Empty values count as unset.
fn input(m: &ArgMatches, id: &str) -> Option<Input> {
    let value = m.get_one::<String>(id)?.trim().to_string();
    if value.is_empty() {
        return None;
    }
    let given = match m.value_source(id) {
        Some(ValueSource::EnvVariable) => Given::Env,
        _ => Given::Flag,
    };
    Some(Input { value, given })
}

/// Runs the CLI with `argv` and returns the process exit code. Output goes to stdout and stderr.
pub async fn run<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = match Cli::command().try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return exit::USAGE;
        }
    };
    match cli.command {
        Command::Doctor(args) => {
            let sub = matches.subcommand_matches("doctor").expect("doctor matches");
            let inputs = Inputs {
                cluster: input(sub, "cluster"),
                region: input(sub, "region"),
                context: input(sub, "context"),
                bucket: input(sub, "bucket"),
                namespace: input(sub, "namespace"),
                service_account: input(sub, "service_account"),
                role_name: input(sub, "role_name"),
                policy_name: input(sub, "policy_name"),
            };
            match doctor(&args, &inputs).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("skys3: {e}");
                    exit::USAGE
                }
            }
        }
        Command::Checks { markdown } => {
            print!("{}", if markdown { checks_markdown() } else { list_checks() });
            exit::OK
        }
        Command::Explain { text } => {
            let text = text.join(" ");
            match explain(&text).or_else(|| explain_text(&text)) {
                Some(out) => {
                    print!("{out}");
                    exit::OK
                }
                None => {
                    eprintln!(
                        "skys3: {text:?} is neither a code nor an error text the doctor recognises; `skys3 checks` lists every code"
                    );
                    exit::USAGE
                }
            }
        }
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&crate::report::schema()).expect("schema serializes")
            );
            exit::OK
        }
        Command::Permissions => {
            print!("{}", crate::permissions::render());
            exit::OK
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "skys3", &mut std::io::stdout());
            exit::OK
        }
    }
}

async fn doctor(args: &DoctorArgs, inputs: &Inputs) -> Result<i32, InputError> {
    let started = tokio::time::Instant::now();
    let run_timeout = Duration::from_secs(args.timeout);
    let check_timeout = Duration::from_secs(args.check_timeout);
    // Read before anything runs: a bad suppressions file is an input error, not a finding.
    let suppressions = match &args.suppressions {
        Some(path) => Some(crate::suppress::Suppressions::load(path).map_err(InputError)?),
        None => None,
    };
    let resolved = target::resolve(args, inputs, aws::profile_region).await?;

    let log = CallLog::default();
    let facts = if args.offline {
        Facts::new(None, None)
    } else {
        let aws: Arc<dyn AwsApi> = Arc::new(AwsClients::new(&resolved.region, check_timeout, log.clone()).await);
        let kube_client = Arc::new(KubeClient::new(
            resolved.kubeconfig.clone(),
            resolved.context.clone(),
            check_timeout,
            log.clone(),
        ));
        // TLS roots and kubeconfig are loaded while the first AWS requests are in flight.
        let warm = kube_client.clone();
        tokio::spawn(async move { warm.prepare().await });
        let kube: Arc<dyn KubeApi> = kube_client;
        Facts::new(Some(aws), Some(kube))
    };
    let mut target = resolved.to_target();
    let ctx = Arc::new(Ctx {
        target: resolved,
        facts,
    });

    let stderr_tty = std::io::stderr().is_terminal();
    let progress: Option<Arc<dyn Fn(usize, usize) + Send + Sync>> = stderr_tty.then(|| {
        Arc::new(|done: usize, total: usize| {
            let mut err = std::io::stderr();
            let _ = write!(err, "\rskys3: {done}/{total} checks done");
            if done == total {
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = err.flush();
        }) as Arc<dyn Fn(usize, usize) + Send + Sync>
    });
    let limits = Limits {
        check_timeout,
        deadline: started + run_timeout,
        run_timeout,
    };
    let registry = if args.offline {
        crate::checks::offline_registry()
    } else {
        REGISTRY
    };
    // Independent requests go out at once; the checks find their answers in the memo.
    let prefetch = (!args.offline).then(|| {
        let ctx = ctx.clone();
        tokio::spawn(async move { crate::checks::prefetch::prefetch(&ctx).await })
    });
    let checks = engine::run(ctx, registry, limits, progress).await;
    if let Some(p) = prefetch {
        p.abort();
    }
    if let Some(mode) = checks
        .iter()
        .find(|c| c.id == "mode")
        .and_then(crate::checks::mode::in_force_from)
    {
        target.mode = mode;
    }
    let mut report = Report::new(target, checks);
    report.calls = log.snapshot();
    if let Some(s) = &suppressions {
        s.apply(&mut report, jiff::Zoned::now().date());
    }
    if args.redact {
        report = crate::redact::redact(&report);
    }

    let out = match args.output {
        Output::Json => render::json::render(&report),
        Output::Table => render::table::render(&report, use_color(args.color)),
        Output::Markdown => render::markdown::render(&report),
        Output::Junit => render::junit::render(&report),
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic; the exit code still tells the verdict.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    Ok(report.exit_code(args.fail_on == FailOn::Warn))
}

fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
        }
    }
}

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

/// `skys3 explain "error text"`: the likely causes of an error pasted from a pod or a log, the checks that decide
/// between them, and the guide's fixes.
pub fn explain_text(text: &str) -> Option<String> {
    let known = crate::classify::classify(text)?;
    let catalog = Catalog::get();
    let mut out = format!(
        "Recognised: {} ({}).\n\nLikely causes, and the checks that decide between them:\n",
        known.meaning, known.code
    );
    for c in crate::classify::causes(known.code) {
        out.push_str(&format!("  - {}\n", c.cause));
        for (check, codes) in c.decided_by {
            let titles: Vec<String> = codes
                .iter()
                .map(|code| {
                    format!(
                        "{code} {}",
                        catalog.code(code).map(|(_, d)| d.title.as_str()).unwrap_or("")
                    )
                })
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
    let mut out = format!("{}: {}\n", doc.code, doc.title);
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
    out.push_str(&format!(
        "\nGuide: \"Using IAM Roles for S3 Access on EKS\", section \"{}\"\n",
        doc.guide
    ));
    Some(out)
}
