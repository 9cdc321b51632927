"""skys3: a read-only doctor for SkyPilot pods reaching S3 through an IAM role on EKS.

The wheel puts the `skys3` binary on PATH. `skys3.sky.DoctorPolicy` is a SkyPilot admin policy that runs
`skys3 doctor` before a launch (see the README, "A launch gate for SkyPilot").
"""

import os
import shutil
import sysconfig


def binary():
    """The skys3 binary: the one this wheel installed beside the interpreter, else the first on PATH."""
    own = os.path.join(sysconfig.get_path("scripts"), "skys3")
    if os.path.isfile(own) and os.access(own, os.X_OK):
        return own
    return shutil.which("skys3")
