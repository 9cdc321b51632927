//! The command line: clap definitions kept apart from the logic, and the `run` entry point the binary calls.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::catalog;
use crate::doctor::{self, Progress};
use crate::exit;
use crate::render;
use crate::report::Document;
use crate::target::{Field, Given, Input, InputError, Inputs, Request};
use crate::wiring::Wiring;

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
        /// Print the catalog as Markdown (`docs/checks.md` is this output).
        #[arg(long)]
        markdown: bool,
    },
    /// Explain a code: what it means and its remediation template.
    Explain {
        /// A code such as SKY121, or an error text pasted from a pod or a log (quote it).
        #[arg(required = true, num_args = 1..)]
        text: Vec<String>,
    },
    /// Render a report saved with `skys3 doctor -o json` (as a table, Markdown, JUnit or JSON), or compare two
    /// with `skys3 report diff OLD NEW`.
    Report(ReportArgs),
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

/// `skys3 report`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReportArgs {
    /// `diff OLD NEW`.
    #[command(subcommand)]
    pub command: Option<ReportCommand>,
    /// A report saved with `skys3 doctor -o json`.
    #[arg(required = true, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Write the home directory as `~`, and account ids, ARNs' accounts and hosts as placeholders.
    #[arg(long)]
    pub redact: bool,
    /// Colour in the table.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the shell script that fixes what the report found (as `skys3 doctor --fix-script` does).
    #[arg(long, conflicts_with_all = ["output", "redact"])]
    pub fix_script: bool,
}

/// `skys3 report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// What changed between two saved reports: fixed, newly broken, still broken. Exit 1 when something got worse.
    Diff {
        /// The earlier report.
        old: PathBuf,
        /// The later report.
        new: PathBuf,
        /// Print the diff as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `--mode`: detect the wiring, or force one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Detect from the cluster (association or annotation).
    Auto,
    /// EKS Pod Identity.
    PodIdentity,
    /// IAM roles for service accounts.
    Irsa,
}

impl ModeArg {
    /// The forced wiring, if any.
    pub fn wiring(self) -> Option<Wiring> {
        match self {
            ModeArg::Auto => None,
            ModeArg::PodIdentity => Some(Wiring::PodIdentity),
            ModeArg::Irsa => Some(Wiring::Irsa),
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
    #[arg(long, env = Field::Cluster.env(), value_name = "NAME")]
    pub cluster: Option<String>,
    /// AWS region of the cluster (else the kube context's, else the AWS profile's).
    #[arg(long, env = Field::Region.env(), value_name = "REGION")]
    pub region: Option<String>,
    /// Kube context (else the kubeconfig's current context; KUBECONFIG honoured). Give it several times, or a
    /// glob (`'prod-*'`), to check several clusters in one run.
    #[arg(long, env = Field::Context.env(), value_name = "CTX", action = clap::ArgAction::Append)]
    pub context: Vec<String>,
    /// Check every EKS context SkyPilot may launch on (`kubernetes.allowed_contexts`, else the current context),
    /// each with its own cluster and region.
    #[arg(long)]
    pub all_contexts: bool,
    /// With several contexts: how many to check at once.
    #[arg(long, default_value_t = 16, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
    /// S3 bucket the pods must reach (else from --task).
    #[arg(long, env = Field::Bucket.env(), value_name = "NAME")]
    pub bucket: Option<String>,
    /// Namespace of SkyPilot's pods (else SkyPilot's kubernetes.namespace, the context's namespace, "default").
    #[arg(short = 'n', long, env = Field::Namespace.env(), value_name = "NS")]
    pub namespace: Option<String>,
    /// Service account the role is wired to [default: skypilot-service-account].
    #[arg(long, env = Field::ServiceAccount.env(), value_name = "SA")]
    pub service_account: Option<String>,
    /// IAM role name (the guide's `SkyPilotS3Role-<bucket>` by default).
    #[arg(
        long,
        env = Field::RoleName.env(),
        value_name = "NAME",
        help = "IAM role name [default: SkyPilotS3Role-<bucket>]"
    )]
    pub role_name: Option<String>,
    /// IAM policy name (the guide's `SkyPilotS3Access-<bucket>` by default).
    #[arg(
        long,
        env = Field::PolicyName.env(),
        value_name = "NAME",
        help = "IAM policy name [default: SkyPilotS3Access-<bucket>]"
    )]
    pub policy_name: Option<String>,
    /// Wiring mode: detect it, or force one.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
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
    /// Rerun the checks that do not pass until they do, or until this much time has passed (`90`, `90s`, `5m`,
    /// `1h`): IAM, the association and the Pod Identity agent take seconds to minutes to propagate.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
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
    /// Print a shell script that fixes what the run found (ordered, guarded, never run by skys3) instead of the
    /// report. The exit code is the report's.
    #[arg(long, conflicts_with_all = ["output", "redact"])]
    pub fix_script: bool,
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
            let mut inputs = Inputs::default();
            // The contexts are several values: the run's rules pick one, or several targets.
            for field in Field::ALL.into_iter().filter(|f| *f != Field::Context) {
                *inputs.get_mut(field) = input(sub, field.key());
            }
            match doctor(&args, inputs, contexts(sub)).await {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("skys3: {e}");
                    exit::USAGE
                }
            }
        }
        Command::Checks { markdown } => {
            print!(
                "{}",
                if markdown {
                    catalog::checks_markdown(crate::checks::REGISTRY.iter().map(|s| s.id))
                } else {
                    catalog::list_checks(crate::checks::REGISTRY.iter().map(|s| s.id))
                }
            );
            exit::OK
        }
        Command::Explain { text } => {
            let text = text.join(" ");
            match catalog::explain(&text).or_else(|| catalog::explain_text(&text)) {
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
        Command::Report(args) => report(&args),
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

/// The `--context` values (trimmed, empty ones dropped), each with its origin.
fn contexts(m: &ArgMatches) -> Vec<Input> {
    let given = match m.value_source("context") {
        Some(ValueSource::EnvVariable) => Given::Env,
        _ => Given::Flag,
    };
    m.get_many::<String>("context")
        .into_iter()
        .flatten()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(|value| Input { value, given })
        .collect()
}

async fn doctor(args: &DoctorArgs, inputs: Inputs, contexts: Vec<Input>) -> Result<i32, InputError> {
    let progress: Option<Progress> = std::io::stderr().is_terminal().then(|| {
        Arc::new(|done: usize, total: usize| {
            let mut err = std::io::stderr();
            let _ = write!(err, "\rskys3: {done}/{total} checks done");
            if done == total {
                let _ = write!(err, "\r\x1b[2K");
            }
            let _ = err.flush();
        }) as Progress
    });
    let invocation = doctor::Invocation {
        request: Request {
            inputs,
            mode: args.mode.wiring(),
            sky_config: args.sky_config.clone(),
            task: args.task.clone(),
            sky_cluster: args.sky_cluster.clone(),
            no_exec: args.no_exec,
            offline: args.offline,
        },
        contexts,
        all_contexts: args.all_contexts,
        jobs: usize::from(args.jobs),
        suppressions: args.suppressions.clone(),
        options: doctor::Options {
            timeout: Duration::from_secs(args.timeout),
            check_timeout: Duration::from_secs(args.check_timeout),
            suppressions: None,
            redact: args.redact,
            home: std::env::var_os("HOME").map(PathBuf::from),
            progress,
            wait: args.wait,
            only: None,
            run_started: None,
            label: None,
        },
    };
    let doc = doctor::invoke(invocation, &|line| eprintln!("skys3: {line}")).await?;
    let out = if args.fix_script {
        crate::fix::script(&doc.reports())
    } else {
        render_document(&doc, args.output, use_color(args.color))
    };
    print(&out);
    Ok(doc.exit_code(args.fail_on == FailOn::Warn))
}

/// A document in an output format.
fn render_document(doc: &Document, output: Output, color: bool) -> String {
    match (doc, output) {
        (Document::Single(r), Output::Json) => render::json::render(r),
        (Document::Single(r), Output::Table) => render::table::render(r, color),
        (Document::Single(r), Output::Markdown) => render::markdown::render(r),
        (Document::Single(r), Output::Junit) => render::junit::render(r),
        (Document::Targets(t), Output::Json) => render::json::render_targets(t),
        (Document::Targets(t), Output::Table) => render::table::render_targets(t, color),
        (Document::Targets(t), Output::Markdown) => render::markdown::render_targets(t),
        (Document::Targets(t), Output::Junit) => render::junit::render_targets(t),
    }
}

/// Writes to stdout. A closed pipe (`| head`) is not an error worth a panic; the exit code still tells the verdict.
fn print(out: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
}

/// `skys3 report FILE` and `skys3 report diff OLD NEW`.
fn report(args: &ReportArgs) -> i32 {
    let load = |p: &PathBuf| {
        crate::saved::load(p).map_err(|e| {
            eprintln!("skys3: {e}");
            exit::USAGE
        })
    };
    if let Some(ReportCommand::Diff { old, new, json }) = &args.command {
        let (old, new) = match (load(old), load(new)) {
            (Ok(o), Ok(n)) => (o, n),
            (Err(code), _) | (_, Err(code)) => return code,
        };
        let d = crate::saved::diff(&old, &new);
        let out = if *json {
            serde_json::to_string_pretty(&d).expect("a diff serializes") + "\n"
        } else {
            crate::saved::render_diff(&d)
        };
        print(&out);
        return if d.got_worse() { exit::FAIL } else { exit::OK };
    }
    let Some(file) = &args.file else {
        return exit::USAGE;
    };
    let doc = match crate::saved::load_document(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("skys3: {e}");
            return exit::USAGE;
        }
    };
    if args.fix_script {
        if doc.reports().iter().any(|r| r.redacted) {
            eprintln!(
                "skys3: {} was written with --redact: its account ids, bucket and hosts are masks, so a script from it \
                 would act on names that do not exist; ask for the report without --redact, or run `skys3 doctor \
                 --fix-script` where the setup is",
                file.display()
            );
            return exit::USAGE;
        }
        print(&crate::fix::script(&doc.reports()));
        return exit::OK;
    }
    let doc = if args.redact {
        crate::redact::redact_document(&doc, std::env::var_os("HOME").map(PathBuf::from).as_deref())
    } else {
        doc
    };
    print(&render_document(&doc, args.output, use_color(args.color)));
    doc.exit_code(false)
}

/// A duration: whole seconds, or a number with `s`, `m` or `h`; at most a day.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (for example 90, 90s, 5m or 1h)"))?;
    let secs = match unit {
        "s" | "sec" | "secs" => n,
        "m" | "min" | "mins" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        other => return Err(format!("unknown unit {other:?} in {text:?}: use s, m or h")),
    };
    if secs == 0 || secs > 86_400 {
        return Err(format!("{text:?}: the wait must be between 1 s and 24 h"));
    }
    Ok(Duration::from_secs(secs))
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
