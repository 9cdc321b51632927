# skys3 in-pod probe, Python part (read-only; run with `python3 -c`, nothing is written in the pod).
# argv[1]: the bucket. The shell part has set the region and the retry bounds in the environment, and SKYS3_AWS
# when this interpreter is the pod's awscli's.
# With botocore (awscli v1's, boto3's) it drives botocore. Without it (SkyPilot's runtime has none; user images
# often neither), a client made of
# the standard library only: it finds credentials the way botocore does for what a pod can have (environment
# keys, web identity, the shared credentials file, container credentials, IMDSv2), in botocore's order, and signs
# STS GetCallerIdentity and S3 ListObjectsV2 with SigV4. It prints key=value lines and never a secret.
import sys

# `python -c` puts the working directory first on the import path: files there (the image's WORKDIR) must not
# shadow the modules below (sys is built in: importing it cannot be shadowed).
if sys.path and sys.path[0] in ("", "."):
    del sys.path[0]

import datetime
import hashlib
import hmac
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

LOCK = threading.Lock()
BUCKET = sys.argv[1] if len(sys.argv) > 1 else ""
REGION = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
TIMEOUT = 5


def say(key, value):
    with LOCK:
        print(key + "=" + " ".join(str(value).split())[:1500], flush=True)


def env(name):
    v = os.environ.get(name, "")
    return v if v.strip() else None


class Failure(Exception):
    pass


def endpoint(service, default):
    return (env("AWS_ENDPOINT_URL_" + service.upper()) or env("AWS_ENDPOINT_URL") or default).rstrip("/")


def suffix(region):
    # China's partition has its own DNS suffix.
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def http(method, url, headers=None, data=None, with_headers=False):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with OPENER.open(req, timeout=TIMEOUT) as r:
            out = (r.status, r.read(), dict(r.headers))
    except urllib.error.HTTPError as e:
        out = (e.code, e.read(), dict(e.headers or {}))
    except Exception as e:
        raise Failure("Could not connect to the endpoint URL: %s (%s)" % (url, e))
    return out if with_headers else out[:2]


def xml_text(body, tag):
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.split("}")[-1] == tag:
            return el.text
    return None


def aws_error(operation, status, body):
    code = xml_text(body, "Code") or ("HTTP %d" % status)
    message = xml_text(body, "Message") or ""
    return Failure("An error occurred (%s) when calling the %s operation: %s" % (code, operation, message))


def ini(path):
    """The profiles of an AWS shared file: {name: {key: value}}."""
    profiles, current = {}, None
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line.startswith("[") and line.endswith("]"):
                    current = line[1:-1].strip()
                    if current.startswith("profile "):
                        current = current[len("profile "):].strip()
                    profiles.setdefault(current, {})
                elif "=" in line and current is not None:
                    k, v = line.split("=", 1)
                    profiles[current][k.strip()] = v.strip()
    except OSError:
        return {}
    return profiles


def from_env():
    if env("AWS_ACCESS_KEY_ID") and env("AWS_SECRET_ACCESS_KEY"):
        return "env", (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN"))
    return None


def from_web_identity():
    path, role = env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN")
    if not (path and role):
        return None
    with open(path) as f:  # a missing file is the pod's problem to report: botocore raises too
        token = f.read().strip()
    form = urllib.parse.urlencode({
        "Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "RoleArn": role,
        "RoleSessionName": env("AWS_ROLE_SESSION_NAME") or "skys3-probe", "WebIdentityToken": token,
    }).encode()
    url = endpoint("sts", "https://sts.%s.%s" % (REGION, suffix(REGION))) + "/"
    status, body = http("POST", url, {"Content-Type": "application/x-www-form-urlencoded"}, form)
    if status != 200:
        raise aws_error("AssumeRoleWithWebIdentity", status, body)
    return "assume-role-with-web-identity", (
        xml_text(body, "AccessKeyId"), xml_text(body, "SecretAccessKey"), xml_text(body, "SessionToken"))


def from_shared_file():
    path = env("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(os.path.expanduser("~"), ".aws", "credentials")
    profile = ini(path).get(env("AWS_PROFILE") or env("AWS_DEFAULT_PROFILE") or "default", {})
    if profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
        return "shared-credentials-file", (
            profile["aws_access_key_id"], profile["aws_secret_access_key"], profile.get("aws_session_token"))
    return None


def from_container():
    full, relative = env("AWS_CONTAINER_CREDENTIALS_FULL_URI"), env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if not (full or relative):
        return None
    url = full or ("http://169.254.170.2" + relative)
    headers = {}
    token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    if token_file:
        with open(token_file) as f:
            headers["Authorization"] = f.read().strip()
    elif env("AWS_CONTAINER_AUTHORIZATION_TOKEN"):
        headers["Authorization"] = env("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    try:
        status, body = http("GET", url, headers)
    except Failure as e:
        raise Failure("Error when retrieving credentials from container-role: %s" % e)
    if status != 200:
        raise Failure("Error when retrieving credentials from container-role: Received non 200 response (%d) "
                      "from container metadata: %s" % (status, body.decode("utf-8", "replace")[:500]))
    c = json.loads(body)
    return "container-role", (c["AccessKeyId"], c["SecretAccessKey"], c.get("Token"))


def from_imds():
    if (env("AWS_EC2_METADATA_DISABLED") or "").lower() == "true":
        return None
    base = (env("AWS_EC2_METADATA_SERVICE_ENDPOINT") or "http://169.254.169.254/").rstrip("/")
    try:
        status, token = http("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})
        headers = {"X-aws-ec2-metadata-token": token.decode()} if status == 200 else {}
        status, roles = http("GET", base + "/latest/meta-data/iam/security-credentials/", headers)
        if status != 200 or not roles.strip():
            return None
        role = roles.decode().split()[0]
        status, body = http("GET", base + "/latest/meta-data/iam/security-credentials/" + role, headers)
    except Failure:
        return None
    if status != 200:
        return None
    c = json.loads(body)
    return "iam-role", (c["AccessKeyId"], c["SecretAccessKey"], c.get("Token"))


def credentials():
    # botocore's order for the sources a pod can have: environment, web identity, shared credentials file,
    # container (Pod Identity), instance metadata (the node's role).
    for source in (from_env, from_web_identity, from_shared_file, from_container, from_imds):
        found = source()
        if found:
            return found
    raise Failure("Unable to locate credentials")


def sign(method, url, service, creds, body=b"", region=None, now=None):
    """SigV4 headers for a request. The URL's path must already be URI-encoded (it is signed as it is sent:
    S3 does not encode twice)."""
    key, secret, token = creds
    region = region or REGION
    parts = urllib.parse.urlsplit(url)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload}
    if token:
        headers["x-amz-security-token"] = token
    if body:
        headers["content-type"] = "application/x-www-form-urlencoded; charset=utf-8"
    names = sorted(headers)
    query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                     for k, v in sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)))
    canonical = "\n".join([method, parts.path or "/", query,
                           "".join("%s:%s\n" % (n, headers[n].strip()) for n in names), ";".join(names), payload])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        key, scope, ";".join(names), signature)
    return headers


def identity(creds):
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    url = endpoint("sts", "https://sts.%s.%s" % (REGION, suffix(REGION))) + "/"
    status, out = http("POST", url, sign("POST", url, "sts", creds, body), body)
    if status != 200:
        raise aws_error("GetCallerIdentity", status, out)
    return xml_text(out, "Arn")


def listing(creds):
    custom = env("AWS_ENDPOINT_URL_S3") or env("AWS_ENDPOINT_URL")
    quoted = urllib.parse.quote(BUCKET, safe="")
    region = REGION
    for _ in range(2):
        if custom:
            url = "%s/%s?list-type=2&max-keys=1" % (custom.rstrip("/"), quoted)
        else:
            url = "https://s3.%s.%s/%s?list-type=2&max-keys=1" % (region, suffix(region), quoted)
        status, out, headers = http("GET", url, sign("GET", url, "s3", creds, region=region), with_headers=True)
        # A bucket in another region: S3 names it, and botocore retries there once; so do we.
        moved = {k.lower(): v for k, v in headers.items()}.get("x-amz-bucket-region")
        if status in (301, 307, 400) and moved and moved != region and not custom:
            region = moved
            continue
        break
    if status != 200:
        raise aws_error("ListObjectsV2", status, out)
    return xml_text(out, "KeyCount") or "0"


def stdlib_client():
    say("client", "stdlib")
    say("client_version", "skys3-stdlib/1 Python/%s" % sys.version.split()[0])
    try:
        source, creds = credentials()
    except Failure as e:
        say("identity", e)
        say("identity_rc", 1)
        say("list", e)
        say("list_rc", 1)
        return
    except Exception as e:
        say("identity", "%s: %s" % (type(e).__name__, e))
        say("identity_rc", 1)
        return
    say("credential_source", source)

    def run(key, call):
        try:
            say(key, call(creds))
            say(key + "_rc", 0)
        except Exception as e:
            say(key, e if isinstance(e, Failure) else "%s: %s" % (type(e).__name__, e))
            say(key + "_rc", 1)

    threads = [threading.Thread(target=run, args=("identity", identity)),
               threading.Thread(target=run, args=("list", listing))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def botocore_client(botocore_session):
    """The pod's own botocore, the credential chain awscli and boto3 use, without awscli's CLI layer: that layer
    caches web identity credentials under ~/.aws/cli/cache (customizations/assumerole.py); botocore alone writes
    nothing."""
    import botocore
    from botocore.config import Config

    say("client", "botocore")
    say("client_version", versions(botocore))
    config = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 2})
    # Clients are made in this thread (a session is not thread-safe); making them resolves the credential chain,
    # and a chain that fails fails both calls with its own words.
    try:
        session = botocore_session.get_session()
        sts = session.create_client("sts", config=config)
        s3 = session.create_client("s3", config=config)
        # Which source of the chain won (botocore's names: env, assume-role-with-web-identity,
        # shared-credentials-file, container-role, iam-role): whether keys are static decides what a
        # SignatureDoesNotMatch means, and whether an uploaded file shadowed the role.
        creds = session.get_credentials()
        say("credential_source", getattr(creds, "method", None) or "none")
    except Exception as e:
        for key in ("identity", "list"):
            say(key, "%s: %s" % (type(e).__name__, e))
            say(key + "_rc", 1)
        return

    def run(key, call):
        try:
            say(key, call())
            say(key + "_rc", 0)
        except Exception as e:
            say(key, "%s: %s" % (type(e).__name__, e))
            say(key + "_rc", 1)

    threads = [
        threading.Thread(target=run, args=("identity", lambda: sts.get_caller_identity()["Arn"])),
        threading.Thread(target=run, args=("list", lambda: s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
                                           .get("KeyCount", 0))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def versions(botocore):
    """Which client's botocore this is: awscli's (the probe found the CLI and runs its interpreter), boto3's, or
    botocore alone. A version decides whether the SDK knows Pod Identity's agent address."""
    parts = []
    if os.environ.get("SKYS3_AWS"):
        try:
            import awscli
            parts.append("aws-cli/%s" % awscli.__version__)
        except Exception:
            pass
    if not parts:
        try:
            import boto3
            parts.append("boto3/%s" % boto3.__version__)
        except Exception:
            pass
    parts.append("botocore/%s" % botocore.__version__)
    return " ".join(parts)


def main():
    try:
        import botocore.session as botocore_session
    except Exception:
        botocore_session = None
    # SKYS3_PROBE_CLIENT=stdlib: the tests compare the standard-library client with botocore in one environment.
    if botocore_session is not None and os.environ.get("SKYS3_PROBE_CLIENT") != "stdlib":
        botocore_client(botocore_session)
    else:
        stdlib_client()


if __name__ == "__main__":
    main()
