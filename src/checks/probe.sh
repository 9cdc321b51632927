# skys3 in-pod probe (read-only): it installs nothing and writes nothing.
# $1: the bucket. Output: key=value lines, each value one line and at most 1500 characters.
bucket="$1"
export AWS_PAGER=""
say() { printf '%s=%s\n' "$1" "$2"; }
flat() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n\r' '  ' | cut -c1-1500)"; }
bounded() { if command -v timeout >/dev/null 2>&1; then timeout 20 "$@"; else "$@"; fi; }
say probe skys3-v1
if [ -e "${HOME:-/root}/.aws/credentials" ]; then say credentials_file present; else say credentials_file absent; fi
if command -v aws >/dev/null 2>&1; then
  say client aws
  out=$(bounded aws sts get-caller-identity --query Arn --output text 2>&1); rc=$?
  say identity_rc "$rc"; flat identity "$out"
  out=$(bounded aws s3api list-objects-v2 --bucket "$bucket" --max-items 1 --page-size 1 --query KeyCount --output text 2>&1); rc=$?
  say list_rc "$rc"; flat list "$out"
elif command -v python3 >/dev/null 2>&1 && python3 -c 'import boto3' >/dev/null 2>&1; then
  say client boto3
  bounded python3 - "$bucket" <<'PY'
import sys
import boto3

def say(key, value):
    print(key + "=" + " ".join(str(value).split())[:1500])

try:
    say("identity", boto3.client("sts").get_caller_identity()["Arn"])
    say("identity_rc", 0)
except Exception as e:
    say("identity", "%s: %s" % (type(e).__name__, e))
    say("identity_rc", 1)
try:
    boto3.client("s3").list_objects_v2(Bucket=sys.argv[1], MaxKeys=1)
    say("list", "ok")
    say("list_rc", 0)
except Exception as e:
    say("list", "%s: %s" % (type(e).__name__, e))
    say("list_rc", 1)
PY
else
  say client none
fi
