"""A launch gate for SkyPilot: an admin policy that runs `skys3 doctor` before a launch.

Register it in the SkyPilot config (`~/.sky/config.yaml`, or the API server's):

    admin_policy: skys3.sky.DoctorPolicy
    plugins:
      skys3:                       # all optional
        args: [--role-name, MyRole]  # more `skys3 doctor` arguments
        timeout_seconds: 120         # one doctor run's bound
        on_inconclusive: warn        # or block
        fail_closed: false           # true: refuse when skys3 cannot run (missing, timeout, crash)
        cache_minutes: 5             # a pass is kept this long per target (0: never)
        binary: /path/to/skys3       # else the wheel's own, else PATH

For a `sky launch`, a managed job or a service whose task names Kubernetes and mounts an `s3://` bucket, it runs
`skys3 doctor -o json` for each context the task may land on, each bucket, and the namespace and service account
SkyPilot would use there (resolved with SkyPilot's own functions), and refuses the request with
`sky.exceptions.UserRequestRejectedByPolicy` when a check fails. It never changes the request. Warnings pass;
inconclusive passes with a warning unless `on_inconclusive: block`; a skys3 that cannot run lets the launch go on
with a warning unless `fail_closed: true`. A pass is cached per target in a file (SkyPilot starts a new process
for every launch, and an API server applies a policy several times per launch); a failure is never cached. On an
API server the settings come from the server's own config file, never from the request's.

Written against SkyPilot 0.14.1 (`sky/admin_policy.py`, `sky/utils/admin_policy_utils.py`).
"""

import concurrent.futures
import fnmatch
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import sky
from sky import exceptions
from sky import skypilot_config
from sky.clouds import kubernetes as k8s_cloud
from sky.provision.kubernetes import utils as kubernetes_utils
from sky.utils import schemas

import skys3

# The requests that start something on a cluster. `validate`, `optimize` and the controllers' own launches are
# the same launch seen again (an API server applies its policy up to four times per `sky launch`), and `exec`
# reaches only an API server's policy (SkyPilot 0.14.1's client applies none to exec).
GATED = {"launch", "jobs.launch", "jobs.pool_apply", "serve.up", "serve.update", "exec"}

# Findings the launch itself resolves: SkyPilot creates its default service account on the first launch
# (`sky/provision/kubernetes/config.py`), so its absence before that launch warns instead of refusing it.
LAUNCH_CREATES = {("kube.service-account", "SKY131")}

# SkyPilot's built-in remote identities on Kubernetes all mean its default service account.
BUILT_IN_IDENTITIES = {"LOCAL_CREDENTIALS", "SERVICE_ACCOUNT", "NO_UPLOAD"}


def _say(text: str) -> None:
    print(f"skys3 launch gate: {text}", file=sys.stderr, flush=True)


class Settings(NamedTuple):
    """`plugins.skys3` of the SkyPilot config, checked."""

    binary: Optional[str]
    args: Tuple[str, ...]
    timeout_seconds: float
    block_inconclusive: bool
    fail_closed: bool
    cache_minutes: float
    cache_dir: str

    @staticmethod
    def of(request: "sky.UserRequest") -> "Settings":
        """At the client, the request's config (the user's files). On an API server, the server's own config file
        only: the request's config carries the client's `plugins` over the server's, and a client must not choose
        the binary the server runs, or turn its gate off."""
        if request.at_client_side:
            return Settings.read(request.skypilot_config)
        return Settings.read(skypilot_config.get_user_config())

    @staticmethod
    def read(config: Any) -> "Settings":
        raw = config.get_nested(("plugins", "skys3"), None) if hasattr(config, "get_nested") else None
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            raise ValueError("plugins.skys3 must be a mapping")
        known = {"binary", "args", "timeout_seconds", "on_inconclusive", "fail_closed", "cache_minutes", "cache_dir"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"plugins.skys3 has unknown keys {unknown} (known: {sorted(known)})")

        def number(key: str, default: float, least: float) -> float:
            value = raw.get(key, default)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < least:
                raise ValueError(f"plugins.skys3.{key} must be a number >= {least}, not {value!r}")
            return float(value)

        args = raw.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"plugins.skys3.args must be a list of strings, not {args!r}")
        on_inconclusive = raw.get("on_inconclusive", "warn")
        if on_inconclusive not in ("warn", "block"):
            raise ValueError(f"plugins.skys3.on_inconclusive must be warn or block, not {on_inconclusive!r}")
        fail_closed = raw.get("fail_closed", False)
        if not isinstance(fail_closed, bool):
            raise ValueError(f"plugins.skys3.fail_closed must be true or false, not {fail_closed!r}")
        binary = raw.get("binary")
        if binary is not None and not isinstance(binary, str):
            raise ValueError(f"plugins.skys3.binary must be a path, not {binary!r}")
        if raw.get("cache_dir") is not None and not isinstance(raw.get("cache_dir"), str):
            raise ValueError(f"plugins.skys3.cache_dir must be a path, not {raw.get('cache_dir')!r}")
        cache_dir = raw.get("cache_dir") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "skys3"
        )
        return Settings(
            binary=os.path.expanduser(binary) if binary else None,
            args=tuple(args),
            timeout_seconds=number("timeout_seconds", 120, 1),
            block_inconclusive=on_inconclusive == "block",
            fail_closed=fail_closed,
            cache_minutes=number("cache_minutes", 5, 0),
            cache_dir=os.path.expanduser(str(cache_dir)),
        )


class Target(NamedTuple):
    """One doctor run: where the task's pods would run and what they mount."""

    context: str
    bucket: str
    namespace: str
    service_account: str


def s3_buckets(task: "sky.Task") -> List[str]:
    """The existing AWS S3 buckets a task mounts: `s3://` sources of storage mounts and file mounts. A named bucket
    on an S3 store with a local source or none (`name:` with `store: s3`) is left out: SkyPilot creates it at
    launch, so the doctor would find it missing before. Other S3-compatible stores (r2://, ...) are not AWS S3."""
    out = set()
    for st in (task.storage_mounts or {}).values():
        src = st.source
        if isinstance(src, str) and src.startswith("s3://"):
            out.add(urllib.parse.urlsplit(src).netloc)
    for src in (task.file_mounts or {}).values():
        if isinstance(src, str) and src.startswith("s3://"):
            out.add(urllib.parse.urlsplit(src).netloc)
    return sorted(b for b in out if b)


def _on_kubernetes(res: "sky.Resources") -> bool:
    # SSH node pools are a Kubernetes subclass, but not EKS.
    return isinstance(res.cloud, k8s_cloud.Kubernetes) and not isinstance(res.cloud, sky.clouds.SSH)


def _service_account(context: str, res: "sky.Resources") -> str:
    """As `Kubernetes.make_deploy_resources_variables` decides it, with `pod_config` merged over the template."""
    overrides = res.cluster_config_overrides
    identity = skypilot_config.get_effective_workspace_region_config(
        cloud="kubernetes",
        region=context,
        keys=("remote_identity",),
        default_value=schemas.get_default_remote_identity("kubernetes"),
        override_configs=overrides,
    )
    pod_config = kubernetes_utils.resolve_effective_pod_config(overrides, res.cloud, context)
    from_pod = ((pod_config or {}).get("spec") or {}).get("serviceAccountName")
    if from_pod:
        return from_pod
    if isinstance(identity, dict):
        name = next((v for p, v in identity.items() if fnmatch.fnmatchcase(context, str(p))), None)
        if name is None:
            raise ValueError(f"context {context!r} is not in kubernetes.remote_identity")
        identity = name
    if identity in BUILT_IN_IDENTITIES:
        return kubernetes_utils.DEFAULT_SERVICE_ACCOUNT_NAME
    return str(identity)


def targets(request: "sky.UserRequest") -> List[Target]:
    """Every (context, bucket, namespace, service account) the request's task may run with: each context its
    resources name, or, without one, each context SkyPilot may choose (`allowed_contexts`, else the current one)."""
    task = request.task
    buckets = s3_buckets(task)
    if not buckets:
        return []
    out: List[Target] = []
    with skypilot_config.replace_skypilot_config_in_process(request.skypilot_config):
        for res in task.resources:
            if not _on_kubernetes(res):
                continue
            contexts = [res.region] if res.region else k8s_cloud.Kubernetes.existing_allowed_contexts(silent=True)
            for context in contexts:
                namespace = kubernetes_utils.get_namespace(
                    context=context, override_configs=res.cluster_config_overrides
                )
                sa = _service_account(context, res)
                out.extend(Target(context, b, namespace, sa) for b in buckets)
    return list(dict.fromkeys(out))


class Verdict(NamedTuple):
    """One doctor run's outcome."""

    target: Target
    status: str  # pass, warn, fail, inconclusive; "error" when skys3 could not run
    failing: List[Dict[str, Any]]  # the checks that failed (or could not decide)
    error: Optional[str] = None


class PassCache:
    """Passing verdicts per target, with their expiry, in one small file: a burst of launches (each its own
    process) costs one doctor run. Failures are never stored."""

    def __init__(self, directory: str, minutes: float):
        self.path = os.path.join(directory, "launch-gate-passes.json")
        self.seconds = minutes * 60

    def key(self, target: Target, binary: str, args: Tuple[str, ...]) -> str:
        # Whatever changes the verdict: the target, the doctor and its arguments, and whose credentials and
        # kubeconfig it runs with.
        parts = [*target, binary, *args] + [
            os.environ.get(v, "")
            for v in (
                "KUBECONFIG", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_ROLE_ARN",
            )
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def _load(self) -> Dict[str, float]:
        try:
            with open(self.path) as f:
                data = json.load(f)
            if data.get("version") != 2:
                return {}
            return {k: float(v) for k, v in data.get("passes", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def fresh(self, key: str) -> bool:
        # Kept as the time of the pass, so that a shorter cache_minutes applies to passes kept before.
        return self.seconds > 0 and time.time() - self._load().get(key, 0) < self.seconds

    def remember(self, key: str) -> None:
        if self.seconds <= 0:
            return
        now = time.time()
        passes = {k: v for k, v in self._load().items() if now - v < 24 * 3600}
        passes[key] = now
        try:
            os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), prefix=".passes-")
            with os.fdopen(fd, "w") as f:
                json.dump({"version": 2, "passes": passes}, f)
            os.replace(tmp, self.path)
        except OSError as e:
            _say(f"could not keep the pass in {self.path}: {e}")


def _run(binary: str, target: Target, settings: Settings) -> Verdict:
    cmd = [
        binary, "doctor", "-o", "json",
        "--context", target.context,
        "--bucket", target.bucket,
        "--namespace", target.namespace,
        "--service-account", target.service_account,
        *settings.args,
    ]
    try:
        # A session of its own, so a timeout ends the doctor and whatever it started (credential processes).
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
    except OSError as e:
        return Verdict(target, "error", [], f"could not start {binary}: {e}")
    try:
        out, err = proc.communicate(timeout=settings.timeout_seconds)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return Verdict(target, "error", [], f"skys3 doctor did not finish in {settings.timeout_seconds:g} s")
    try:
        doc = json.loads(out)
        status = doc["status"]
        checks = doc["checks"]
    except (ValueError, KeyError, TypeError):
        last = err.decode("utf-8", "replace").strip().splitlines()[-3:]
        # Exit 2 is the doctor refusing its input (a context that names no EKS cluster, SkyPilot's `in-cluster`
        # context): it could not check this target, which is not a verdict on it.
        return Verdict(
            target, "error", [], f"skys3 doctor exited {proc.returncode} without a report: {' '.join(last)}"
        )
    failing = [c for c in checks if c.get("status") in ("fail", "inconclusive")]
    created = [c for c in failing if (c.get("id"), c.get("code")) in LAUNCH_CREATES]
    if status == "fail" and created and all(
        (c.get("id"), c.get("code")) in LAUNCH_CREATES for c in failing if c.get("status") == "fail"
    ):
        if target.service_account == kubernetes_utils.DEFAULT_SERVICE_ACCOUNT_NAME:
            # The launch creates SkyPilot's default account; the rest of the chain (association, role, bucket)
            # passed. With IRSA the new account still needs its annotation: the warning says to check after. What
            # could not be decided still counts as undecided.
            undecided = any(c.get("status") == "inconclusive" for c in failing)
            status = "inconclusive" if undecided else "created-by-launch"
    return Verdict(target, status, failing)


def _where(request: "sky.UserRequest") -> str:
    if request.at_client_side:
        return "at the client, with your kubeconfig and AWS credentials"
    return "on the SkyPilot API server, with the server's kubeconfig and AWS credentials"


def _doctor_command(t: Target, args: Tuple[str, ...] = ()) -> str:
    import shlex

    words = ["skys3", "doctor", "--context", t.context, "--bucket", t.bucket, "--namespace", t.namespace,
             "--service-account", t.service_account, *args]
    return " ".join(shlex.quote(w) for w in words)


def _describe(v: Verdict, statuses: Tuple[str, ...]) -> List[str]:
    lines = []
    for c in v.failing:
        if c.get("status") not in statuses:
            continue
        code = c.get("code") or ""
        lines.append(f"  - {c.get('id')} {code} ({c.get('status')}): {c.get('message', '')}")
        fix = (c.get("remediation") or {}).get("summary")
        if fix:
            lines.append(f"    fix: {fix}")
    return lines


class DoctorPolicy(sky.AdminPolicy):
    """Refuses a launch whose pods could not reach their S3 bucket through the role (see the module's text)."""

    def __repr__(self) -> str:
        # SkyPilot names the policy with repr() in errors it wraps.
        return "skys3.sky.DoctorPolicy"

    @classmethod
    def validate_and_mutate(cls, user_request: "sky.UserRequest") -> "sky.MutatedUserRequest":
        unchanged = sky.MutatedUserRequest(task=user_request.task, skypilot_config=user_request.skypilot_config)
        if str(user_request.request_name) not in GATED:
            return unchanged
        where = _where(user_request)
        try:
            settings = Settings.of(user_request)
        except ValueError as e:
            raise exceptions.UserRequestRejectedByPolicy(f"skys3 launch gate ({where}): {e}") from None
        try:
            found = targets(user_request)
        except Exception as e:  # SkyPilot's own resolution failed: the launch would say so itself.
            return cls._cannot_run(settings, where, f"could not work out the task's targets: {e}", unchanged)
        if not found:
            return unchanged
        binary = settings.binary or skys3.binary()
        if not binary:
            return cls._cannot_run(settings, where, "the skys3 binary is not installed here", unchanged)
        cache = PassCache(settings.cache_dir, settings.cache_minutes)
        todo = [t for t in found if not cache.fresh(cache.key(t, binary, settings.args))]
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(todo) or 1)) as pool:
            verdicts = list(pool.map(lambda t: _run(binary, t, settings), todo))
        refused, warned, errors = [], [], []
        for v in verdicts:
            if v.status == "error":
                errors.append(v)
            elif v.status == "fail" or (v.status == "inconclusive" and settings.block_inconclusive):
                refused.append(v)
            elif v.status == "inconclusive":
                warned.append(v)
            elif v.status == "created-by-launch":
                _say(
                    f"service account {v.target.namespace}/{v.target.service_account} does not exist yet; this "
                    f"launch creates it. With IRSA it then needs its role annotation: run "
                    f"`{_doctor_command(v.target, settings.args)}` after the launch."
                )
            else:
                cache.remember(cache.key(v.target, binary, settings.args))
        for v in warned:
            _say(f"could not decide everything for s3://{v.target.bucket} on {v.target.context}; launching anyway:")
            for line in _describe(v, ("inconclusive",)):
                print(line, file=sys.stderr)
        if refused:
            lines = [f"skys3 launch gate ({where}) refused the request:"]
            for v in refused:
                lines.append(
                    f"s3://{v.target.bucket} on context {v.target.context} (namespace {v.target.namespace}, "
                    f"service account {v.target.service_account}):"
                )
                lines += _describe(v, ("fail", "inconclusive") if settings.block_inconclusive else ("fail",))
                lines.append(f"  the commands that fix it: {_doctor_command(v.target, settings.args)} --fix-script")
            raise exceptions.UserRequestRejectedByPolicy("\n".join(lines))
        for v in errors:
            unchanged = cls._cannot_run(
                settings, where, f"{v.error} ({_doctor_command(v.target, settings.args)})", unchanged
            )
        return unchanged

    @staticmethod
    def _cannot_run(settings: Settings, where: str, why: str, unchanged: "sky.MutatedUserRequest"):
        if settings.fail_closed:
            raise exceptions.UserRequestRejectedByPolicy(
                f"skys3 launch gate ({where}) could not check the launch, and plugins.skys3.fail_closed is set: {why}"
            )
        _say(f"could not check the launch ({why}); launching anyway (plugins.skys3.fail_closed: true would refuse)")
        return unchanged
