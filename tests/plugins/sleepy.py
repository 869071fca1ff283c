"""A plug-in that only waits (tests/test_forkserver.py): on import it writes its process id to the file
named by SLEEPY_PID and sleeps SLEEPY_SECONDS, so a test can signal or kill a `selgen` command mid-run."""

import os
import time
from pathlib import Path

Path(os.environ["SLEEPY_PID"]).write_text(str(os.getpid()))
time.sleep(float(os.environ.get("SLEEPY_SECONDS", "30")))
