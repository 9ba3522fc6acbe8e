"""A real single-node SLURM cluster (Debian's slurmctld, slurmd, munge) for the slow tests.

Started from scratch in a temporary folder; every daemon it starts is stopped by PID, also when
the test fails. Packages missing and not installable: the caller skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel", "munged"]


def find(binary: str) -> str | None:
    return shutil.which(binary) or next((str(p) for p in (Path("/usr/sbin") / binary,) if p.exists()), None)


def ensure_packages() -> str | None:
    """None when the binaries are there (installing them if possible), else why not."""
    if all(find(b) for b in BINARIES):
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "SLURM is not installed and apt-get is not usable (needs root)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    if subprocess.run(install, capture_output=True, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            return f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr.strip()[-300:]}"
    missing = [b for b in BINARIES if not find(b)]
    return f"SLURM binaries missing after install: {missing}" if missing else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def has_environment_entry(process: Path, entry: str) -> bool:
    try:
        return not entry or entry.encode() in (process / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def processes_started_since(name: str, since: float, environment_entry: str = "") -> list[int]:
    """PIDs of processes whose command starts with ``name``, that started after ``since`` (epoch s)
    and whose environment holds ``environment_entry`` (e.g. this cluster's SLURM_CONF=...)."""
    boot = next(float(line.split()[1]) for line in open("/proc/stat") if line.startswith("btime"))
    ticks = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            started = boot + int((entry / "stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        except (OSError, IndexError, ValueError):
            continue
        if (
            command.startswith(name)
            and started >= since - 1
            and has_environment_entry(entry, environment_entry)
        ):
            found.append(int(entry.name))
    return found


def stop(pid: int | None) -> None:
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


@contextmanager
def slurm_cluster(folder: Path, cpus: int = 2, memory_mb: int = 20000):
    """Yield the environment (with SLURM_CONF) for clients of a fresh one-node cluster."""
    folder.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0]
    for sub in ("spool", "state", "log"):
        (folder / sub).mkdir(exist_ok=True)
    conf = folder / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=test",
                f"SlurmctldHost={host}",
                "AuthType=auth/munge",
                "CryptoType=crypto/munge",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthInfo=cred_expire=10",  # requeued jobs may restart 10 s later, not 120
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "SchedulerType=sched/backfill",
                "MpiDefault=none",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "ReturnToService=2",
                "KillWait=5",
                "MinJobAge=600",
                # job ids far from 1: a job step left over from another cluster can never be taken for ours
                f"FirstJobId={1000 + int(time.time()) % 100000}",
                f"SlurmctldPidFile={folder}/slurmctld.pid",
                f"SlurmdPidFile={folder}/slurmd.pid",
                f"SlurmdSpoolDir={folder}/spool",
                f"StateSaveLocation={folder}/state",
                f"SlurmctldLogFile={folder}/log/slurmctld.log",
                f"SlurmdLogFile={folder}/log/slurmd.log",
                # free ports, not SLURM's 6817/6818: a second cluster on this machine (another test session)
                # would otherwise take our jobs or keep our slurmctld from starting
                f"SlurmctldPort={free_port()}",
                f"SlurmdPort={free_port()}",
                f"NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
                f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    env = dict(os.environ, SLURM_CONF=str(conf))
    munge_pid_file = Path("/run/munge/munged.pid")
    started_munge = None
    started_at = time.time()
    try:
        if read_pid(munge_pid_file) is None:
            Path("/run/munge").mkdir(parents=True, exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            subprocess.run(["runuser", "-u", "munge", "--", find("munged")], check=True, capture_output=True)
            for _ in range(50):
                started_munge = read_pid(munge_pid_file)
                if started_munge:
                    break
                time.sleep(0.1)
        subprocess.run([find("slurmctld"), "-f", str(conf)], check=True, env=env, capture_output=True)
        subprocess.run([find("slurmd"), "-f", str(conf)], check=True, env=env, capture_output=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            state = subprocess.run([find("sinfo"), "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"the SLURM node never became idle: {state.stdout} {state.stderr}")
        yield env
    finally:
        # cancel what is still queued or running, then stop the job steps and the daemons
        squeue = subprocess.run(
            [find("squeue") or "squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True
        )
        jobs = squeue.stdout.split()
        if jobs:
            subprocess.run([find("scancel") or "scancel", *jobs], env=env, capture_output=True)
            time.sleep(2)
        # slurmd passes its environment on: job steps of another cluster on this machine are left alone
        for pid in processes_started_since("slurmstepd", started_at, f"SLURM_CONF={conf}"):
            stop(pid)
        stop(read_pid(folder / "slurmd.pid"))
        stop(read_pid(folder / "slurmctld.pid"))
        stop(started_munge)
