"""A real single-node SLURM cluster on this machine, for tests: munge, slurmctld and slurmd from Debian's
`slurm-wlm` and `munge` packages, no accounting database (so clients use `squeue`, not `sacct`).

Two partitions on the one node: `cpu` (the default) and `gpu`, which holds one fake GPU (gres.conf points
it at /dev/null): enough for `sbatch --gpus=1` to be scheduled, and for a test to see which partition a job
went to. Needs root; writes /etc/slurm/slurm.conf (srun inside a job reads the default path, not
$SLURM_CONF) only if no configuration of someone else's is there, and removes it again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MARKER = "# written by the selgen test suite (tests/slurm_cluster.py); removed when the tests end"
CONF_DIR = Path("/etc/slurm")


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(b)]
    if missing:
        return f"SLURM not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    conf = CONF_DIR / "slurm.conf"
    if conf.exists() and MARKER not in conf.read_text():
        return f"{conf} exists and is not ours: not touching a real SLURM configuration"
    return None


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=check)


def _start_munge() -> None:
    if _run("sh", "-c", "munge -n | unmunge", check=False).returncode == 0:
        return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        _run("mungekey", "-c")
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    _run("su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged")
    for _ in range(50):
        if _run("sh", "-c", "munge -n | unmunge", check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("munged did not start (munge -n | unmunge fails)")


class Cluster:
    def __init__(self, state: Path):
        self.state = state
        self.host = socket.gethostname().split(".")[0]

    @property
    def ctld_log(self) -> Path:
        return self.state / "slurmctld.log"

    def start(self) -> Cluster:
        _start_munge()
        (self.state / "ctld").mkdir(parents=True, exist_ok=True)
        (self.state / "spool").mkdir(parents=True, exist_ok=True)
        cpus = os.cpu_count() or 1
        CONF_DIR.mkdir(parents=True, exist_ok=True)
        (CONF_DIR / "slurm.conf").write_text(
            f"""{MARKER}
ClusterName=selgentest
SlurmctldHost={self.host}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={self.state}/ctld
SlurmdSpoolDir={self.state}/spool
SlurmctldPidFile={self.state}/slurmctld.pid
SlurmdPidFile={self.state}/slurmd.pid
SlurmctldLogFile={self.ctld_log}
SlurmdLogFile={self.state}/slurmd.log
ReturnToService=2
MinJobAge=3600
GresTypes=gpu
NodeName={self.host} CPUs={cpus} RealMemory=8000 Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={self.host} Default=NO MaxTime=INFINITE State=UP
"""
        )
        (CONF_DIR / "gres.conf").write_text(f"{MARKER}\nAutoDetect=off\nName=gpu File=/dev/null\n")
        _run("slurmctld", "-c")
        _run("slurmd")
        for _ in range(300):
            out = _run("sinfo", "-h", "-o", "%P %t", check=False).stdout.split()
            if out.count("idle") == 2:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the node did not come up: sinfo says {out}; see {self.state}")

    def stop(self) -> None:
        _run("scontrol", "shutdown", check=False)
        for pid_file in ("slurmctld.pid", "slurmd.pid"):
            pid_path = self.state / pid_file
            for _ in range(100):
                if not pid_path.exists() or not Path(f"/proc/{pid_path.read_text().strip()}").exists():
                    break
                time.sleep(0.1)
        for name in ("slurm.conf", "gres.conf"):
            path = CONF_DIR / name
            if path.exists() and MARKER in path.read_text():
                path.unlink()

    def jobs(self) -> dict[str, dict[str, str]]:
        """Every job the controller knows (finished ones included, for MinJobAge): id -> its fields."""
        out = _run("scontrol", "-o", "show", "job").stdout
        jobs = {}
        for line in out.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if "JobId" in fields:
                jobs[fields["JobId"]] = fields
        return jobs
