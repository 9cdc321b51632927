"""Drives SkyPilot 0.14.1's own launch paths with skys3's launch gate (tests/it/launch_gate.rs).

Usage: gate_driver.py ENTRY TASK_YAML [N]. ENTRY is launch, jobs.launch or exec; the launch is made N times (each
in this process; the pass cache is a file, as for separate `sky launch` processes). SkyPilot loads the policy from
its config (SKYPILOT_GLOBAL_CONFIG, set by the test) exactly as for a user; the API server is stubbed right after
the policy: the health check does nothing, and the first request (POST /validate) ends the launch.

Prints one JSON line per launch: outcome ("passed": the request reached the server stub; "rejected": the policy
refused it; "other"), the message, whether the request reached the server unchanged, and the server calls.
"""
import json
import sys

import sky
from sky.server import common as server_common
from sky.utils import admin_policy_utils


class ReachedServer(Exception):
    pass


calls = []


def fake_request(method, path, *args, **kwargs):
    calls.append(f"{method} {path}")
    raise ReachedServer(f"{method} {path}")


server_common.check_server_healthy_or_start_fn = lambda *a, **k: None
server_common.make_authenticated_request = fake_request

# Whether the policy left the request as it was: the task and the config SkyPilot goes on with.
changed = []
real_apply = admin_policy_utils.apply


def recording_apply(entrypoint, *args, **kwargs):
    before_config = sky.skypilot_config.resolved_config()
    dag, config = real_apply(entrypoint, *args, **kwargs)
    task = entrypoint if isinstance(entrypoint, sky.Task) else entrypoint.tasks[0]
    before = task.to_yaml_config()
    after = dag.tasks[0].to_yaml_config()
    changed.append(before != after or dict(config) != dict(before_config))
    return dag, config


admin_policy_utils.apply = recording_apply
for module in (sys.modules.get("sky.client.sdk"), sys.modules.get("sky.jobs.client.sdk")):
    if module is not None and hasattr(module, "admin_policy_utils"):
        module.admin_policy_utils.apply = recording_apply

entry, task_yaml = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
launch = {
    "launch": lambda t: sky.launch(t, cluster_name="gate"),
    "jobs.launch": lambda t: sky.jobs.launch(t),
    "exec": lambda t: sky.exec(t, cluster_name="gate"),
}[entry]
for _ in range(n):
    calls.clear()
    changed.clear()
    task = sky.Task.from_yaml(task_yaml)
    limit = getattr(sys, "tracebacklimit", None)
    try:
        launch(task)
        result = {"outcome": "other", "message": "the launch returned without reaching the server"}
    except ReachedServer as e:
        result = {"outcome": "passed", "message": str(e)}
    except sky.exceptions.UserRequestRejectedByPolicy as e:
        result = {"outcome": "rejected", "message": str(e)}
    except Exception as e:  # noqa: BLE001 - the test reports whatever it was
        result = {"outcome": "other", "message": f"{type(e).__name__}: {e}"}
    finally:
        # SkyPilot's rejection path leaves sys.tracebacklimit at 0 in this process (ux_utils).
        sys.tracebacklimit = limit if limit is not None else 1000
    result["changed"] = any(changed)
    result["server_calls"] = list(calls)
    print(json.dumps(result), flush=True)
