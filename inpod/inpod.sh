# skys3 in-pod probe (read-only): it installs nothing and writes nothing, in the pod or anywhere else; the one
# exception, a pod with no Python whose awscli caches IRSA credentials, is reported (cli_cache).
# It arrives on the exec's stdin after its Python part (`pysrc`: inpod.py), read and run by a bootstrap of about
# 100 bytes (skys3::checks::pod_s3_list::BOOTSTRAP), so the exec's request line stays small: proxies in front of
# API servers cap it at 8-16 KB, and the audit log keeps every exec's command in full.
# $1: the bucket. $2: the cluster's region, used only when the pod sets none (current awscli and boto3 refuse STS
# without one). $3: each AWS call's bound in seconds.
# The client is the pod's own botocore driven without awscli's CLI layer (awscli v1 caches web identity
# credentials under ~/.aws/cli/cache, with no switch to turn it off: awscli/customizations/assumerole.py): the
# interpreter of the pod's `aws` when it is a Python script, else python3 (boto3's botocore, else the probe's
# standard-library client); the aws CLI itself only when the pod has no Python at all.
# Output: key=value lines, each value one line and at most 1500 characters; lines of concurrent steps interleave.
bucket="$1"
region="$2"
bound="${3:-12}"
export AWS_PAGER=""
# Fail fast with the client's own error instead of retrying past the exec's deadline: awscli v1's legacy mode
# retries 5 times with backoff (about 10 s per call on a closed port). These bound every client the probe runs.
export AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=2
export AWS_METADATA_SERVICE_TIMEOUT=2 AWS_METADATA_SERVICE_NUM_ATTEMPTS=1
# Nothing written in the pod: not even Python's bytecode caches next to awscli's or boto3's modules.
export PYTHONDONTWRITEBYTECODE=1
say() { printf '%s=%s\n' "$1" "$2"; }
nl='
'
cr=$(printf '\r')
# One line, at most 1500 characters. A short one-line value (most are: awscli's errors only start with a newline)
# costs no process; others go through tr and cut.
flat() {
  v=$2
  while :; do case "$v" in "$nl"*) v=${v#"$nl"} ;; *) break ;; esac; done
  case "$v" in
    *"$nl"* | *"$cr"*) printf '%s=%s\n' "$1" "$(printf '%s' "$v" | tr '\n\r' '  ' | cut -c1-1500)" ;;
    *) if [ "${#v}" -le 1500 ]; then printf '%s=%s\n' "$1" "$v"; else printf '%s=%s\n' "$1" "$(printf '%s' "$v" | cut -c1-1500)"; fi ;;
  esac
}
# Each call under the bound: coreutils' timeout exits 124, BusyBox's kills with SIGTERM (143); without timeout, a
# watchdog does the same (its output goes nowhere, so a $(...) capture does not wait for it).
bounded() {
  if command -v timeout >/dev/null 2>&1; then
    timeout "$bound" "$@"
  else
    "$@" &
    pid=$!
    (sleep "$bound"; kill "$pid") >/dev/null 2>&1 &
    watchdog=$!
    wait "$pid"
    rc=$?
    kill "$watchdog" >/dev/null 2>&1
    return "$rc"
  fi
}
say probe skys3-v3
home="${HOME:-/root}"

# botocore (awscli v1, boto3) reads only AWS_DEFAULT_REGION; the other SDKs read AWS_REGION.
if [ -n "${AWS_DEFAULT_REGION:-}" ]; then
  say region_source pod
  export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
elif [ -n "${AWS_REGION:-}" ]; then
  say region_source pod-aws-region
  export AWS_DEFAULT_REGION="$AWS_REGION"
elif [ -n "$region" ]; then
  export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
  say region_source doctor
else
  say region_source none
fi
say region "${AWS_REGION:-}"
# Where the calls go, for a timeout's message (an endpoint override, else the regional default).
case "${AWS_REGION:-}" in cn-*) dns=amazonaws.com.cn ;; *) dns=amazonaws.com ;; esac
say sts_endpoint "${AWS_ENDPOINT_URL_STS:-${AWS_ENDPOINT_URL:-https://sts.${AWS_REGION:-us-east-1}.$dns}}"
say s3_endpoint "${AWS_ENDPOINT_URL_S3:-${AWS_ENDPOINT_URL:-https://s3.${AWS_REGION:-us-east-1}.$dns}}"

# An uploaded credentials file; only whether it exists, never its content.
if [ -e "${AWS_SHARED_CREDENTIALS_FILE:-$home/.aws/credentials}" ]; then say credentials_file present; else say credentials_file absent; fi

# The clients SkyPilot's pods may have: aws on PATH, awscli in SkyPilot's runtime (COPY-mode mounts install it
# there), pip's user bin; python3 (SkyPilot's pods always have one, for Ray).
runtime="${SKY_RUNTIME_DIR:-$home}/skypilot-runtime"
aws=""
for c in "$(command -v aws 2>/dev/null)" "$runtime/bin/aws" "$home/.local/bin/aws"; do
  if [ -n "$c" ] && [ -x "$c" ]; then aws="$c"; break; fi
done
# awscli v1 is a Python script whose shebang names its interpreter, which has botocore: pip writes
# `#!/path/python`; a launcher for a path too long for a shebang writes `#!/bin/sh` and then
# `'''exec' /path/python "$0" "$@"` (double-quoted when the path has spaces, single-quoted by uv).
awspy=""
if [ -n "$aws" ]; then
  n=0
  while [ "$n" -lt 2 ] && IFS= read -r line; do
    n=$((n + 1))
    case "$line" in
      '#!/bin/sh'*) ;;
      '#!'*python*)
        awspy="${line#??}"; awspy="${awspy# }"; first="${awspy%% *}"
        case "$first" in
          */env) awspy="${awspy#* }"; awspy="$(command -v "${awspy%% *}" 2>/dev/null)" ;;
          *) awspy="$first" ;;
        esac
        break ;;
      "'''exec' "*)
        rest="${line#\'\'\'exec\' }"
        case "$rest" in
          \"*) rest="${rest#\"}"; awspy="${rest%%\"*}" ;;
          \'*) rest="${rest#\'}"; awspy="${rest%%\'*}" ;;
          *) awspy="${rest%% *}" ;;
        esac
        break ;;
      *) break ;;
    esac
  done 2>/dev/null <"$aws"
fi
# Pythons to try, in order: the CLI's own, then python3 (PATH, SkyPilot's runtime). Python 2 (Amazon Linux 2's
# yum awscli names /usr/bin/python2) cannot run the probe's Python part: skipped.
py3() { [ -n "$1" ] && [ -x "$1" ] && "$1" -S -c 'import sys; sys.exit(sys.version_info[0] < 3)' </dev/null >/dev/null 2>&1; }
pythons=""
for c in "$awspy" "$(command -v python3 2>/dev/null)" "$runtime/bin/python3"; do
  case " $pythons " in *" $c "*) continue ;; esac
  if py3 "$c"; then pythons="$pythons $c"; fi
done

# The mount client of MOUNT_CACHED, when the image has it: `rclone version` only reads.
if command -v rclone >/dev/null 2>&1; then
  (flat rclone_version "$(bounded rclone version 2>/dev/null | head -n 1)") &
fi

# The Python part, with the first Python that runs it; the next one (then the CLI) when one fails before it names
# its client. It stays in the exec's working directory (relative paths in AWS_* variables resolve as the pod's
# own processes resolve them); the Python part drops that directory from its import path first.
ran=""
for py in $pythons; do
  if [ "$py" = "$awspy" ]; then cli="$aws"; else cli=""; fi
  out=$(SKYS3_AWS="$cli" bounded "$py" -u -c "$pysrc" "$bucket" </dev/null)
  rc=$?
  case "$out" in
    *client=*)
      ran=1
      say client_path "$py"
      if [ -n "$cli" ]; then say aws_path "$aws"; fi
      printf '%s\n' "$out"
      # 124: timeout killed it; what it printed before (unbuffered) is in $out.
      if [ "$rc" -ne 0 ]; then say python_rc "$rc"; fi
      break ;;
  esac
  last_py="$py"; last_rc="$rc"
done
if [ -n "$ran" ]; then
  :
elif [ -n "$aws" ]; then
  # No Python that runs the probe: the CLI itself (awscli v2's own binary). With web identity (IRSA) it caches
  # credentials under ~/.aws/cli/cache, the one write the probe cannot avoid there: it says so, and the doctor
  # reports it.
  say client aws
  say client_path "$aws"
  if [ -n "${AWS_WEB_IDENTITY_TOKEN_FILE:-}" ]; then say cli_cache "$home/.aws/cli/cache"; fi
  (flat client_version "$("$aws" --version 2>&1 </dev/null)") &
  # The identity and the list run at once: the probe costs about one client start-up.
  (
    out=$(bounded "$aws" sts get-caller-identity --query Arn --output text \
      --cli-connect-timeout 3 --cli-read-timeout 5 2>&1 </dev/null)
    rc=$?
    flat identity "$out"
    say identity_rc "$rc"
  ) &
  (
    out=$(bounded "$aws" s3api list-objects-v2 --bucket "$bucket" --max-keys 1 --no-paginate --query KeyCount \
      --output text --cli-connect-timeout 3 --cli-read-timeout 5 2>&1 </dev/null)
    rc=$?
    flat list "$out"
    say list_rc "$rc"
  ) &
  wait
elif [ -n "${last_py:-}" ]; then
  # Every Python failed before naming its client, and there is no CLI: its exit code, its words on stderr.
  say client_path "$last_py"
  say python_rc "$last_rc"
else
  say client none
fi
wait
