//! The local AWS identity and region as botocore resolves them, with the lab venv's awscli v1 and botocore as the
//! oracle: for each layout of environment, config and credentials files, SSO caches and credential processes,
//! `aws sts get-caller-identity` (against moto and a fake SSO portal) and the doctor must name the same
//! principal, or both fail and the doctor names the cause with its own code. No layout reads the host's `~/.aws`.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::lab::{ACCOUNT, Lab, Scenario, sso_portal};

/// What the doctor must conclude for a layout.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// botocore resolves an identity; the doctor's aws.identity passes with the same ARN.
    Same,
    /// botocore fails; the doctor's aws.identity gives this code.
    Fails(&'static str),
}

struct Layout {
    name: &'static str,
    config: String,
    credentials: String,
    env: Vec<(&'static str, String)>,
    expect: Expect,
}

fn layout(name: &'static str, config: &str, credentials: &str, env: &[(&'static str, &str)], expect: Expect) -> Layout {
    Layout {
        name,
        config: config.to_string(),
        credentials: credentials.to_string(),
        env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        expect,
    }
}

struct Minted {
    id: String,
    secret: String,
    token: String,
}

/// Credentials moto knows: an IAM user's keys (identity `user/NAME`) and assumed-role sessions.
fn mint(lab: &Lab) -> (Minted, HashMap<&'static str, Minted>) {
    lab.block_on(async {
        use aws_sdk_iam::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "lab"))
            .region(Region::new("us-west-2"))
            .endpoint_url(&lab.moto_url)
            .load()
            .await;
        let iam = aws_sdk_iam::Client::new(&conf);
        iam.create_user().user_name("keys-user").send().await.unwrap();
        let key = iam.create_access_key().user_name("keys-user").send().await.unwrap();
        let key = key.access_key().unwrap();
        let user = Minted {
            id: key.access_key_id().to_string(),
            secret: key.secret_access_key().to_string(),
            token: String::new(),
        };
        let mut roles = HashMap::new();
        for role in ["ProcessRole", "HopRole", "SecondHopRole", "SsoRole", "WebRole"] {
            iam.create_role()
                .role_name(role)
                .assume_role_policy_document("{}")
                .send()
                .await
                .unwrap();
        }
        for role in ["ProcessRole", "SsoRole"] {
            let out = aws_sdk_sts::Client::new(&conf)
                .assume_role()
                .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{role}"))
                .role_session_name("lab")
                .send()
                .await
                .unwrap();
            let c = out.credentials().unwrap();
            roles.insert(
                role,
                Minted {
                    id: c.access_key_id().to_string(),
                    secret: c.secret_access_key().to_string(),
                    token: c.session_token().to_string(),
                },
            );
        }
        (user, roles)
    })
}

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn sha1_hex(text: &str) -> String {
    let out = Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A session name botocore makes up (`botocore-session-<unix time>`) differs by the second it was made.
fn normalize(arn: &str) -> String {
    match arn.rsplit_once("/botocore-session-") {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => format!("{head}/botocore-session-N"),
        _ => arn.to_string(),
    }
}

struct Files {
    config: PathBuf,
    credentials: PathBuf,
}

fn files(lab: &Lab, i: usize, l: &Layout) -> Files {
    let dir = lab.dir.path().join(format!("layout-{i}"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config");
    let credentials = dir.join("credentials");
    std::fs::write(&config, &l.config).unwrap();
    std::fs::write(&credentials, &l.credentials).unwrap();
    Files { config, credentials }
}

fn oracle(lab: &Lab, f: &Files, portal: &str, env: &[(&'static str, String)]) -> (Option<String>, String) {
    let out = Command::new("timeout")
        .arg("8")
        .arg(crate::lab::venv_dir().join("bin/aws"))
        .args(["sts", "get-caller-identity", "--query", "Arn", "--output", "text"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", lab.home())
        .env("AWS_CONFIG_FILE", &f.config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &f.credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", "us-west-2")
        .env("AWS_ENDPOINT_URL", &lab.moto_url)
        .env("AWS_ENDPOINT_URL_SSO", portal)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
    (
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()),
        err,
    )
}

fn doctor(lab: &Lab, f: &Files, portal: &str, env: &[(&'static str, String)]) -> (Output, serde_json::Value) {
    let out = lab
        .command()
        .env("AWS_CONFIG_FILE", &f.config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &f.credentials)
        .env("AWS_ENDPOINT_URL_SSO", portal)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(["doctor", "-o", "json", "--check-timeout", "3", "--timeout", "20"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor JSON: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let identity = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "aws.identity")
        .cloned()
        .unwrap();
    (out, identity)
}

#[test]
fn the_local_identity_is_the_one_botocore_resolves() {
    let lab = Lab::start(Scenario::healthy_pod_identity());
    let d = lab.dir.path().to_path_buf();
    let (user, roles) = mint(&lab);
    let role = &roles["ProcessRole"];
    let sso = &roles["SsoRole"];
    let canary = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCANARYSECRET";

    let creds_json = format!(
        "{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\", \"SessionToken\": \"{}\"}}",
        role.id, role.secret, role.token
    );
    std::fs::write(d.join("creds.json"), &creds_json).unwrap();
    let works = script(&d, "works.sh", &format!("cat {}", d.join("creds.json").display()));
    let fails = script(
        &d,
        "fails.sh",
        &format!("echo 'token refresh failed for AKIAIOSFODNN7CANARY0 {canary}' >&2\nexit 3"),
    );
    let hangs = script(&d, "hangs.sh", "sleep 300");
    let expired = script(
        &d,
        "expired.sh",
        &format!(
            "echo '{{\"Version\": 1, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{canary}\", \"Expiration\": \"2020-01-01T00:00:00Z\"}}'",
            role.id
        ),
    );
    let garbage = script(&d, "garbage.sh", &format!("echo 'not json {canary}'"));
    let version2 = script(
        &d,
        "version2.sh",
        &format!(
            "echo '{{\"Version\": 2, \"AccessKeyId\": \"{}\", \"SecretAccessKey\": \"{}\"}}'",
            role.id, role.secret
        ),
    );
    let token_file = d.join("web-token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.lab.token").unwrap();

    // SSO: a valid legacy token, a valid sso-session token, an expired one, a corrupt one; none for "missing".
    let cache = lab.home().join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).unwrap();
    let future = "2099-01-01T00:00:00Z";
    let write_token =
        |key: &str, body: String| std::fs::write(cache.join(format!("{}.json", sha1_hex(key))), body).unwrap();
    write_token(
        "https://valid.awsapps.com/start",
        format!("{{\"accessToken\": \"legacy-token\", \"expiresAt\": \"{future}\"}}"),
    );
    write_token(
        "lab-session",
        format!(
            "{{\"accessToken\": \"session-token\", \"expiresAt\": \"{future}\", \"startUrl\": \"https://s.awsapps.com/start\"}}"
        ),
    );
    write_token(
        "https://expired.awsapps.com/start",
        "{\"accessToken\": \"expired-token\", \"expiresAt\": \"2020-01-01T00:00:00Z\"}".into(),
    );
    write_token("https://corrupt.awsapps.com/start", "{\"accessToken\": ".into());
    write_token(
        "https://revoked.awsapps.com/start",
        format!("{{\"accessToken\": \"revoked-token\", \"expiresAt\": \"{future}\"}}"),
    );
    let mut grants = sso_portal::Grants::new();
    for token in ["legacy-token", "session-token"] {
        grants.insert(
            (token.into(), ACCOUNT.into(), "SsoRole".into()),
            (sso.id.clone(), sso.secret.clone(), sso.token.clone()),
        );
    }
    let portal = lab.block_on(sso_portal::serve(grants));

    let process = |p: &Path| format!("[default]\ncredential_process = {}\n", p.display());
    let keys = |section: &str| {
        format!(
            "[{section}]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            user.id, user.secret
        )
    };
    let sso_legacy = |url: &str| {
        format!(
            "[profile s]\nsso_start_url = {url}\nsso_region = us-east-1\nsso_account_id = {ACCOUNT}\nsso_role_name = SsoRole\n"
        )
    };
    let role_arn = |r: &str| format!("arn:aws:iam::{ACCOUNT}:role/{r}");
    let default = process(&works);
    let (uid, usecret) = (user.id.as_str(), user.secret.as_str());

    let layouts = vec![
        layout("credential_process", &default, "", &[], Expect::Same),
        layout(
            "env keys beat the profile",
            &default,
            "",
            &[("AWS_ACCESS_KEY_ID", uid), ("AWS_SECRET_ACCESS_KEY", usecret)],
            Expect::Same,
        ),
        layout(
            "env key id without secret",
            &default,
            "",
            &[("AWS_ACCESS_KEY_ID", uid)],
            Expect::Fails("SKY104"),
        ),
        layout(
            "env secret alone is ignored",
            &default,
            "",
            &[("AWS_SECRET_ACCESS_KEY", usecret)],
            Expect::Same,
        ),
        layout(
            "empty env key id is unset",
            &default,
            "",
            &[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", usecret)],
            Expect::Same,
        ),
        layout(
            "profile keys in the credentials file",
            &default,
            &keys("k"),
            &[("AWS_PROFILE", "k")],
            Expect::Same,
        ),
        layout(
            "profile keys in the config file",
            &format!("{default}{}", keys("profile ck")),
            "",
            &[("AWS_PROFILE", "ck")],
            Expect::Same,
        ),
        layout(
            "credentials-file keys beat credential_process",
            &format!("{default}[profile mix]\ncredential_process = {}\n", works.display()),
            &keys("mix"),
            &[("AWS_PROFILE", "mix")],
            Expect::Same,
        ),
        layout(
            "credential_process beats config-file keys",
            &format!(
                "{default}{}credential_process = {}\n",
                keys("profile mix2"),
                works.display()
            ),
            "",
            &[("AWS_PROFILE", "mix2")],
            Expect::Same,
        ),
        layout(
            "default keys in a custom credentials file",
            "",
            &keys("default"),
            &[],
            Expect::Same,
        ),
        layout(
            "AWS_DEFAULT_PROFILE is read",
            &default,
            &keys("k"),
            &[("AWS_DEFAULT_PROFILE", "k")],
            Expect::Same,
        ),
        layout(
            "AWS_DEFAULT_PROFILE beats AWS_PROFILE",
            &default,
            &keys("k"),
            &[("AWS_PROFILE", "default"), ("AWS_DEFAULT_PROFILE", "k")],
            Expect::Same,
        ),
        layout(
            "an empty AWS_PROFILE is a profile named \"\"",
            &default,
            "",
            &[("AWS_PROFILE", "")],
            Expect::Fails("SKY103"),
        ),
        layout(
            "missing profile",
            &default,
            "",
            &[("AWS_PROFILE", "nope")],
            Expect::Fails("SKY103"),
        ),
        layout(
            "missing profile by AWS_DEFAULT_PROFILE",
            &default,
            "",
            &[("AWS_DEFAULT_PROFILE", "nope")],
            Expect::Fails("SKY103"),
        ),
        layout(
            "profile key id without secret",
            "",
            "[default]\naws_access_key_id = AKIAONLYTHEKEYID0000\n",
            &[],
            Expect::Fails("SKY104"),
        ),
        layout(
            "credential_process fails",
            &process(&fails),
            "",
            &[],
            Expect::Fails("SKY108"),
        ),
        layout(
            "credential_process returns expired keys",
            &process(&expired),
            "",
            &[],
            Expect::Fails("SKY108"),
        ),
        layout(
            "credential_process prints no JSON",
            &process(&garbage),
            "",
            &[],
            Expect::Fails("SKY108"),
        ),
        layout(
            "credential_process version 2",
            &process(&version2),
            "",
            &[],
            Expect::Fails("SKY108"),
        ),
        layout(
            "credential_process is not run by a shell",
            &format!(
                "[default]\ncredential_process = cat {} | cat\n",
                d.join("creds.json").display()
            ),
            "",
            &[],
            Expect::Fails("SKY108"),
        ),
        layout(
            "credential_process hangs",
            &process(&hangs),
            "",
            &[],
            Expect::Fails("SKY109"),
        ),
        layout(
            "source_profile, one hop",
            &format!("[profile r1]\nrole_arn = {}\nsource_profile = k\n", role_arn("HopRole")),
            &keys("k"),
            &[("AWS_PROFILE", "r1")],
            Expect::Same,
        ),
        layout(
            "source_profile, two hops",
            &format!(
                "[profile r1]\nrole_arn = {}\nsource_profile = k\n[profile r2]\nrole_arn = {}\nsource_profile = r1\nrole_session_name = two-hops\n",
                role_arn("HopRole"),
                role_arn("SecondHopRole")
            ),
            &keys("k"),
            &[("AWS_PROFILE", "r2")],
            Expect::Same,
        ),
        layout(
            "source_profile through a credential_process",
            &format!(
                "[profile p]\ncredential_process = {}\n[profile r]\nrole_arn = {}\nsource_profile = p\n",
                works.display(),
                role_arn("HopRole")
            ),
            "",
            &[("AWS_PROFILE", "r")],
            Expect::Same,
        ),
        layout(
            "a profile sourcing its own keys",
            &format!(
                "[profile self]\nrole_arn = {}\nsource_profile = self\n",
                role_arn("HopRole")
            ),
            &keys("self"),
            &[("AWS_PROFILE", "self")],
            Expect::Same,
        ),
        layout(
            "source_profile loop",
            &format!(
                "[profile a]\nrole_arn = {}\nsource_profile = b\n[profile b]\nrole_arn = {}\nsource_profile = a\n",
                role_arn("HopRole"),
                role_arn("SecondHopRole")
            ),
            "",
            &[("AWS_PROFILE", "a")],
            Expect::Fails("SKY110"),
        ),
        layout(
            "source_profile that does not exist",
            &format!(
                "[profile r]\nrole_arn = {}\nsource_profile = gone\n",
                role_arn("HopRole")
            ),
            "",
            &[("AWS_PROFILE", "r")],
            Expect::Fails("SKY110"),
        ),
        layout(
            "role_arn without a source",
            &format!("[profile r]\nrole_arn = {}\n", role_arn("HopRole")),
            "",
            &[("AWS_PROFILE", "r")],
            Expect::Fails("SKY110"),
        ),
        layout(
            "credential_source = Environment",
            &format!(
                "[profile ce]\nrole_arn = {}\ncredential_source = Environment\n",
                role_arn("HopRole")
            ),
            "",
            &[
                ("AWS_PROFILE", "ce"),
                ("AWS_ACCESS_KEY_ID", uid),
                ("AWS_SECRET_ACCESS_KEY", usecret),
            ],
            Expect::Same,
        ),
        layout(
            "credential_source = Environment without keys",
            &format!(
                "[profile ce]\nrole_arn = {}\ncredential_source = Environment\n",
                role_arn("HopRole")
            ),
            "",
            &[("AWS_PROFILE", "ce")],
            Expect::Fails("SKY110"),
        ),
        layout(
            "web identity from the environment",
            &default,
            "",
            &[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
                ("AWS_ROLE_ARN", &role_arn("WebRole")),
                ("AWS_ROLE_SESSION_NAME", "web"),
            ],
            Expect::Same,
        ),
        layout(
            "web identity from a profile",
            &format!(
                "[profile wi]\nweb_identity_token_file = {}\nrole_arn = {}\nrole_session_name = web\n",
                token_file.display(),
                role_arn("WebRole")
            ),
            "",
            &[("AWS_PROFILE", "wi")],
            Expect::Same,
        ),
        layout(
            "SSO, legacy profile",
            &sso_legacy("https://valid.awsapps.com/start"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Same,
        ),
        layout(
            "SSO, sso-session",
            &format!(
                "[profile s]\nsso_session = lab-session\nsso_account_id = {ACCOUNT}\nsso_role_name = SsoRole\n[sso-session lab-session]\nsso_start_url = https://s.awsapps.com/start\nsso_region = us-east-1\n"
            ),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Same,
        ),
        layout(
            "SSO token expired",
            &sso_legacy("https://expired.awsapps.com/start"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Fails("SKY105"),
        ),
        layout(
            "SSO token refused by the portal",
            &sso_legacy("https://revoked.awsapps.com/start"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Fails("SKY105"),
        ),
        layout(
            "SSO never logged in",
            &sso_legacy("https://never.awsapps.com/start"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Fails("SKY106"),
        ),
        layout(
            "SSO cache corrupt",
            &sso_legacy("https://corrupt.awsapps.com/start"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Fails("SKY107"),
        ),
        layout(
            "SSO settings incomplete",
            &format!("[profile s]\nsso_account_id = {ACCOUNT}\nsso_role_name = SsoRole\n"),
            "",
            &[("AWS_PROFILE", "s")],
            Expect::Fails("SKY110"),
        ),
        layout("nothing at all", "", "", &[], Expect::Fails("SKY101")),
    ];
    assert!(layouts.len() >= 25);

    // Four layouts at a time: awscli's start-up dominates, and the hung process waits for its bound.
    let results: Vec<Result<(), String>> = std::thread::scope(|scope| {
        let chunks: Vec<Vec<(usize, &Layout)>> = {
            let mut c: Vec<Vec<(usize, &Layout)>> = vec![Vec::new(); 4];
            for (i, l) in layouts.iter().enumerate() {
                c[i % 4].push((i, l));
            }
            c
        };
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (lab, portal, role) = (&lab, &portal, &role);
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, l)| judge(lab, i, l, portal, canary, &role.secret))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let disagreements: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        disagreements.is_empty(),
        "disagreements with botocore:\n{}",
        disagreements.join("\n")
    );
}

fn judge(lab: &Lab, i: usize, l: &Layout, portal: &str, canary: &str, secret: &str) -> Result<(), String> {
    let f = files(lab, i, l);
    let (want, why) = oracle(lab, &f, portal, &l.env);
    let (out, got) = doctor(lab, &f, portal, &l.env);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !printed.contains(canary) && !printed.contains("AKIAIOSFODNN7CANARY0") && !printed.contains(secret),
        "{}: a secret reached the output:\n{printed}",
        l.name
    );
    let verdict = match (l.expect, &want) {
        (Expect::Same, Some(arn)) => (got["status"] == "pass"
            && got["evidence"]["arn"].as_str().map(normalize) == Some(normalize(arn)))
        .then_some(())
        .ok_or_else(|| format!("botocore: {arn}; doctor: {} {}", got["status"], got["message"])),
        (Expect::Fails(code), None) => (got["code"] == code).then_some(()).ok_or_else(|| {
            format!(
                "botocore fails ({why}); doctor: {} {} {}",
                got["status"], got["code"], got["message"]
            )
        }),
        (expect, _) => Err(format!(
            "expected {expect:?}; botocore: {want:?} {why}; doctor: {} {}",
            got["status"], got["message"]
        )),
    };
    verdict.map_err(|e| format!("{}: {e}", l.name))
}

/// botocore's region: `AWS_DEFAULT_REGION` (not `AWS_REGION`, in botocore 1.40), else the selected profile's.
fn botocore_region(lab: &Lab, f: &Files, env: &[(&'static str, String)]) -> Option<String> {
    let out = Command::new(crate::lab::venv_dir().join("bin/python"))
        .args([
            "-c",
            "import botocore.session as s; print(s.get_session().get_config_variable('region') or '')",
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", lab.home())
        .env("AWS_CONFIG_FILE", &f.config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &f.credentials)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let r = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !r.is_empty()).then_some(r)
}

#[test]
fn without_aws_region_the_region_is_the_one_botocore_resolves() {
    let lab = Lab::start(Scenario::healthy_pod_identity().env("AWS_REGION", None));
    let process = std::fs::read_to_string(lab.dir.path().join("aws-config")).unwrap();
    let with_region = |section: &str, region: &str| format!("{process}\n[{section}]\nregion = {region}\n");
    let layouts = [
        layout(
            "AWS_DEFAULT_REGION",
            &process,
            "",
            &[("AWS_DEFAULT_REGION", "us-west-2")],
            Expect::Same,
        ),
        layout(
            "the default profile's region",
            &process.replace("[default]", "[default]\nregion = us-west-2"),
            "",
            &[],
            Expect::Same,
        ),
        layout(
            "AWS_DEFAULT_REGION beats the profile",
            &process.replace("[default]", "[default]\nregion = eu-west-1"),
            "",
            &[("AWS_DEFAULT_REGION", "us-west-2")],
            Expect::Same,
        ),
        layout(
            "AWS_PROFILE's region",
            &with_region("profile r", "us-west-2"),
            "",
            &[("AWS_PROFILE", "r")],
            Expect::Same,
        ),
        layout(
            "AWS_DEFAULT_PROFILE's region",
            &with_region("profile r", "us-west-2"),
            "",
            &[("AWS_DEFAULT_PROFILE", "r")],
            Expect::Same,
        ),
        layout(
            "an empty AWS_DEFAULT_REGION falls to the profile",
            &process.replace("[default]", "[default]\nregion = us-west-2"),
            "",
            &[("AWS_DEFAULT_REGION", "")],
            Expect::Same,
        ),
    ];
    for (i, l) in layouts.iter().enumerate() {
        let f = files(&lab, 100 + i, l);
        let want = botocore_region(&lab, &f, &l.env);
        let out = lab
            .command()
            .env("AWS_CONFIG_FILE", &f.config)
            .env("AWS_SHARED_CREDENTIALS_FILE", &f.credentials)
            .envs(l.env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["doctor", "-o", "json"])
            .output()
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", l.name, String::from_utf8_lossy(&out.stderr)));
        // An empty AWS_DEFAULT_REGION: botocore keeps the empty string (and its calls then fail); the doctor
        // reads empty as unset, the one rule for empty variables, and says where the region came from.
        let want = want.or_else(|| (l.name.starts_with("an empty")).then(|| "us-west-2".to_string()));
        assert_eq!(doc["target"]["region"].as_str(), want.as_deref(), "{}", l.name);
        assert!(doc["target"]["sources"]["region"].is_string(), "{}", l.name);
    }
}
