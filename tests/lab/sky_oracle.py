"""SkyPilot 0.14.1 as the oracle of the doctor's SkyPilot checks (tests/it/sky_oracle.rs).

Reads a JSON list of cases on stdin and prints one JSON verdict per case, in order, one per line. Each case runs
in a forked child of a process that imported SkyPilot once (importing it costs seconds), in its own HOME and
working directory, with its own environment; the child calls SkyPilot's own functions:

- config: the client load, then the local API server's (global file only) with the client's config layered over
  it (`override_skypilot_config`), as `executor.py` does for a request; any exception is the verdict;
- the task's `config:` block through the server's strict schema;
- aws upload: `backend_utils.write_cluster_config` for a Kubernetes launch, up to the credential collection;
- service account: `clouds/kubernetes.py` lines 836-873 (not callable without a cluster; replicated, and pinned
  against the installed source), then `combine_pod_config_fields`;
- contexts: `Kubernetes.existing_allowed_contexts`; namespace: `get_namespace`;
- mount credentials: `AWS._current_identity_type` (it runs `aws configure list`) and
  `should_use_env_auth_for_s3`.

Nothing reaches a network: sky_oracle_site/sitecustomize.py refuses every TCP connect and fakes botocore's
temporary-credential refresh (so `aws configure list` reports an SSO or role identity as it would with a
reachable portal). Case keys: files {path: text} ('~/' -> HOME, else relative to the working directory; '{HOME}'
and '{CWD}' are substituted), env {VAR: value}, task_config, context.
"""
import json
import os
import sys


def _exc(e):
    return f'{type(e).__name__}: {e}'


def run_case(case, home, cwd):
    import contextlib
    import logging
    sub = lambda s: s.replace('{HOME}', home).replace('{CWD}', cwd)
    for path, text in case.get('files', {}).items():
        full = os.path.join(home, path[2:]) if path.startswith('~/') else os.path.join(cwd, sub(path))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, 'w', encoding='utf-8') as f:
            f.write(sub(text))
    out = {}
    from sky import skypilot_config
    from sky.server.requests import payloads
    from sky.skylet import constants
    from sky.utils import annotations
    try:
        skypilot_config.reload_config()  # the client's load, as at import
    except BaseException as e:  # pylint: disable=broad-except
        out['config_error'] = 'client: ' + _exc(e)
        return out
    annotations.is_on_api_server = False
    client_cfg = payloads.get_override_skypilot_config_from_client()
    client_path = payloads.get_override_skypilot_config_path_from_client()
    annotations.is_on_api_server = True
    os.environ[constants.ENV_VAR_IS_SKYPILOT_SERVER] = 'true'
    from sky.server import plugins
    plugins._plugins_loaded = True  # pylint: disable=protected-access
    try:
        skypilot_config.reload_config()
    except BaseException as e:  # pylint: disable=broad-except
        out['config_error'] = 'server: ' + _exc(e)
        return out
    # Held until the case ends: the context manager restores the server's config when it is closed, and a
    # generator nobody references is closed at once.
    override = skypilot_config.override_skypilot_config(client_cfg, client_path)
    try:
        override.__enter__()  # pylint: disable=unnecessary-dunder-call
    except BaseException as e:  # pylint: disable=broad-except
        out['config_error'] = 'override: ' + _exc(e)
        return out
    out['_held'] = id(override)
    overrides = case.get('task_config')
    if overrides:
        from sky.utils import common_utils, schemas
        try:
            common_utils.validate_schema(overrides, schemas.get_task_schema()['properties']['config'],
                                         'Invalid resources.config override: ', skip_none=False)
        except BaseException as e:  # pylint: disable=broad-except
            out['config_error'] = 'task: ' + _exc(e)
            return out
    ctx = case['context']
    out['aws_excluded'] = guarded(lambda: launch_excluded(ctx, overrides))
    out.update(k8s(ctx, overrides))
    out.update(mounts())
    out.pop('_held')
    del override
    return out


def guarded(fn):
    try:
        return fn()
    except BaseException as e:  # pylint: disable=broad-except
        return {'error': _exc(e)}


class _Stop(Exception):
    pass


def launch_excluded(context, overrides):
    """Whether a Kubernetes launch in `context` leaves AWS credentials out (backend_utils.py 835-911)."""
    import types
    from sky import clouds
    from sky.backends import backend_utils
    got = {}

    def capture(excluded):
        got['excluded'] = sorted(str(c) for c in excluded)
        raise _Stop()
    real = backend_utils.sky_check.get_cloud_credential_file_mounts
    backend_utils.sky_check.get_cloud_credential_file_mounts = capture
    to_provision = types.SimpleNamespace(cloud=clouds.Kubernetes(), region=context,
                                         cluster_config_overrides=overrides,
                                         make_deploy_variables=lambda *a, **k: {})
    try:
        backend_utils.write_cluster_config(to_provision, 1, 'unused.j2', 'mycluster', None, '',
                                           clouds.Region(context))
        return {'error': 'did not reach the credential collection'}
    except _Stop:
        return 'AWS' in got['excluded']
    finally:
        backend_utils.sky_check.get_cloud_credential_file_mounts = real


def k8s(ctx, overrides):
    import copy
    import fnmatch
    import inspect
    from sky import clouds, skypilot_config
    from sky.provision.kubernetes import utils as ku
    from sky.utils import schemas
    res = {'launch_contexts': guarded(lambda: clouds.Kubernetes.existing_allowed_contexts(silent=True))}
    res['namespace'] = guarded(lambda: ku.get_namespace(context=ctx, override_configs=overrides))
    src = inspect.getsource(clouds.Kubernetes.make_deploy_resources_variables)
    res['sa_logic_pinned'] = all(s in src for s in (
        "keys=('remote_identity',),", 'if fnmatch.fnmatchcase(context, str(pattern)):',
        'if k8s_service_account_name in (lc, sa, no_upload):'))
    try:
        ri = skypilot_config.get_effective_workspace_region_config(
            cloud='kubernetes', region=ctx, keys=('remote_identity',),
            default_value=schemas.get_default_remote_identity('kubernetes'), override_configs=overrides)
        name = ri
        if isinstance(ri, dict):
            name = next((v for p, v in ri.items() if fnmatch.fnmatchcase(ctx, str(p))), None)
            if name is None:
                res['service_account'] = {'error': f'Context {ctx!r} not found in remote identities'}
                return res
        if name in [o.value for o in schemas.RemoteIdentityOptions]:
            name = ku.DEFAULT_SERVICE_ACCOUNT_NAME
        stub = {'available_node_types': {'ray_head_default': {'node_config': {'spec': {'serviceAccountName': name}}}}}
        merged = ku.combine_pod_config_fields(copy.deepcopy(stub), overrides or {}, clouds.Kubernetes(), ctx)
        res['service_account'] = merged['available_node_types']['ray_head_default']['node_config']['spec'][
            'serviceAccountName']
    except BaseException as e:  # pylint: disable=broad-except
        res['service_account'] = {'error': _exc(e)}
    return res


def mounts():
    from sky import clouds
    t = clouds.AWS._current_identity_type()  # pylint: disable=protected-access
    return {'identity_type': t.name if t else None, 'env_auth': clouds.AWS.should_use_env_auth_for_s3()}


def main():
    import tempfile
    cases = json.load(sys.stdin)
    base_env = dict(os.environ)
    for case in cases:
        root = tempfile.mkdtemp(prefix='case-', dir=os.environ.get('SKY_ORACLE_ROOT'))
        home, cwd = os.path.join(root, 'home'), os.path.join(root, 'cwd')
        os.makedirs(home)
        os.makedirs(cwd)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.environ.clear()
            os.environ.update(base_env)
            os.environ['HOME'] = home
            os.environ.update({k: v.replace('{HOME}', home).replace('{CWD}', cwd)
                               for k, v in case.get('env', {}).items()})
            os.chdir(cwd)
            try:
                result = run_case(case, home, cwd)
            except BaseException as e:  # pylint: disable=broad-except
                result = {'oracle_error': _exc(e)}
            with os.fdopen(w, 'w') as f:
                f.write(json.dumps(result, default=str))
            os._exit(0)  # pylint: disable=protected-access
        os.close(w)
        with os.fdopen(r) as f:
            text = f.read()
        os.waitpid(pid, 0)
        print(json.dumps({'name': case.get('name'), 'home': home, 'cwd': cwd,
                          **(json.loads(text) if text else {'oracle_error': 'no output'})}), flush=True)


if __name__ == '__main__':
    # Import once, in a sealed empty HOME: every case forks from here.
    import sky.skypilot_config  # noqa: F401  pylint: disable=unused-import
    import sky.clouds  # noqa: F401
    import sky.backends.backend_utils  # noqa: F401
    import sky.provision.kubernetes.utils  # noqa: F401
    import sky.server.requests.payloads  # noqa: F401
    main()
