"""The open-files limit: the daemon's command raises it once at start-up; building a scheduler only reads it."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

CODE = """
import json, resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256 + 2 * 20, hard))
from lvsd.checks.openfiles import checks_in_flight, raise_open_files_limit
from lvsd.checks.scheduler import Scheduler
s = Scheduler(lambda *a: None)
after_scheduler = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
raise_open_files_limit()
print(json.dumps({"bound": s.max_concurrent, "after_scheduler": after_scheduler, "hard": hard,
                  "raised": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "bound_now": checks_in_flight()}))
"""


def test_a_scheduler_reads_the_limit_and_the_start_up_step_raises_it() -> None:
    out = json.loads(subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True,
                                    timeout=60).stdout)
    assert out["bound"] == 20  # (296 - 256 reserved) / 2 per check
    assert out["after_scheduler"] == 296  # building it changed nothing process-wide
    hard = out["hard"]
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    assert out["raised"] == max(296, wanted)
    assert out["bound_now"] == min(4096, max(16, (out["raised"] - 256) // 2))
