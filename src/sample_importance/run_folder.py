"""A run folder holds one run: a lock while a process trains in it, the run's settings inside its
checkpoints, and a finished folder left as it is.

``check_start`` decides, without writing anything, whether a start may go on: the folder is not
in use by another live process, the checkpoint it resumes from is readable and was trained with
the same settings, and the run is not already finished. Only then does ``RunFolder`` take the
lock (``run.lock``) and write ``.hydra/`` (Hydra's own early write is switched off in
``configs/train.yaml``), so a refused start leaves every file of the folder as it was.

The lock is an exclusive ``flock`` on ``run.lock``, which also names its holder (host, pid, SLURM
job): the kernel drops it when the process dies, however it dies, so a lock left behind on this
host is recognised and taken over. The ranks of one run are the same run: Lightning starts ranks
1.. as children of rank 0, SLURM starts every rank with the same ``SLURM_JOB_ID``, and a requeued
job keeps that id (its earlier process may have run on another node).
"""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf
from pytorch_lightning.callbacks import Callback

from sample_importance.dataset.class_subset import as_exclude_classes
from sample_importance.errors import UserError

LOCK_FILE = "run.lock"
SUMMARY_FILE = "summary.json"
HYDRA_FILES = ".hydra"
SETTINGS_KEY = "run_settings"
OVERRIDE = "resume_allow_changes"
# The setting a resume may raise: a finished run continues for more epochs.
GROWING_SETTING = "schedule.max_epochs"
# Dataset keys that say where the data lives or how fast it loads, not what is trained on.
DATA_ACCESS_KEYS = {
    "root",
    "download",
    "train_dir",
    "test_dir",
    "export_from",
    "num_workers",
    "on_device",
    "eval_batch_size",
}
# Model keys that change speed, not the network (read by train.py, not passed to the network).
MODEL_SPEED_KEYS = {"channels_last", "compile", "score_channels_last"}


# -- the settings that define a run ---------------------------------------------------------
def group_settings(node, prefix: str, skip: set[str] = frozenset()) -> dict:
    """``node``'s values as dotted keys. A value that is an interpolation (``dataset.seed:
    ${seed}``) is a copy of another setting and is compared there instead."""
    settings = {}
    if not isinstance(node, DictConfig):
        return settings
    for key in node.keys():
        if key in skip:
            continue
        name = f"{prefix}.{key}"
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        if isinstance(value, DictConfig):
            settings.update(group_settings(value, name, skip))
        elif isinstance(value, ListConfig):
            settings[name] = OmegaConf.to_container(value, resolve=True)
        else:
            settings[name] = value
    return settings


def run_settings(cfg: DictConfig) -> dict:
    """Dataset, model, sampler, loss, schedule and seed, as plain values (a checkpoint holds them
    and still loads with ``weights_only=True``)."""
    model = {
        k: v
        for k, v in group_settings(cfg.get("model"), "model").items()
        if k.split(".")[1] not in MODEL_SPEED_KEYS
    }
    return {
        "seed": int(cfg.seed),
        **group_settings(cfg.get("dataset"), "dataset", DATA_ACCESS_KEYS),
        **model,
        **group_settings(cfg.get("sampler"), "sampler"),
        **group_settings(cfg.get("loss"), "loss"),
        **group_settings(cfg.get("schedule"), "schedule"),
    }


MISSING = "(unset)"


def setting_changes(old: dict, new: dict) -> dict:
    """``{key: [old, new]}`` for every setting that differs (class exclusion compared in today's form:
    a run configured as ``dataset=cifar9`` continues as ``dataset=cifar10 dataset.exclude_classes=[dog]``;
    a key added since, at null, is no change)."""
    old, new = as_exclude_classes(old), as_exclude_classes(new)
    return {
        key: [old.get(key, MISSING), new.get(key, MISSING)]
        for key in sorted(set(old) | set(new))
        if old.get(key, MISSING) != new.get(key, MISSING) and not added_at_off(key, old, new)
    }


def added_at_off(key: str, old: dict, new: dict) -> bool:
    """A key one side lacks and the other holds as null: a setting added to the code since the
    checkpoint was written (``dataset.prune_scores_file``, ``dataset.exclude_classes``), at its
    "off" value, so the run is the same one."""
    return (key not in old and new[key] is None) or (key not in new and old[key] is None)


def is_allowed_change(key: str, old, new) -> bool:
    return key == GROWING_SETTING and isinstance(old, int) and isinstance(new, int) and new > old


def describe_changes(changes: dict) -> str:
    return ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changes.items())


class SettingsInCheckpoint(Callback):
    """Writes the run's settings into every checkpoint, with the changes earlier resumes made.

    ``changes`` (one entry per resume that changed a setting: step, checkpoint, ``{key: [old,
    new]}``) travels from checkpoint to checkpoint and ends in ``summary.json``.
    """

    def __init__(self, settings: dict):
        self.settings = settings
        self.changes: list[dict] = []

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        record = checkpoint.get(SETTINGS_KEY)
        if not isinstance(record, dict):
            return  # written before checkpoints carried their settings
        self.changes = list(record.get("changes", []))
        changes = setting_changes(record.get("settings", {}), self.settings)
        if changes:
            self.changes.append(
                {
                    "step": int(checkpoint.get("global_step", 0)),
                    "checkpoint": str(trainer.ckpt_path),
                    "changes": changes,
                }
            )

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[SETTINGS_KEY] = {"settings": self.settings, "changes": self.changes}


def settings_changed_on_resume(trainer) -> dict:
    """``summary.json``'s record of the resumes that changed a setting (nothing when none did)."""
    for callback in trainer.callbacks:
        if isinstance(callback, SettingsInCheckpoint) and callback.changes:
            return {"settings_changed_on_resume": callback.changes}
    return {}


# -- who holds the folder -------------------------------------------------------------------
def process_start_ticks(pid: int) -> int | None:
    """When ``pid`` started (Linux clock ticks since boot): tells a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def launch_id() -> str | None:
    """What the ranks of one run, and a requeued SLURM job, share."""
    if os.environ.get("SLURM_JOB_ID"):
        return f"SLURM job {os.environ['SLURM_JOB_ID']}"
    if os.environ.get("TORCHELASTIC_RUN_ID"):
        return f"torchrun {os.environ['TORCHELASTIC_RUN_ID']}"
    return None


def is_rank_zero() -> bool:
    """True in the process that owns the run (the only one, without DDP)."""
    return all(
        os.environ.get(name, "0").strip() in ("", "0")
        for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")
    )


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    start_ticks: int | None
    launch: str | None
    started: str

    @classmethod
    def this_process(cls) -> Holder:
        return cls(
            socket.gethostname(),
            os.getpid(),
            process_start_ticks(os.getpid()),
            launch_id(),
            time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        )

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            record = json.loads(text)
            return cls(
                str(record["host"]),
                int(record["pid"]),
                record.get("start_ticks"),
                record.get("launch"),
                str(record.get("started", "?")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return (
            f"pid {self.pid} on host {self.host}"
            + (f" ({self.launch})" if self.launch else "")
            + f", started {self.started}"
        )

    def is_alive(self) -> bool:
        """Only answerable on the holder's own host."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's process
        ticks = process_start_ticks(self.pid)
        return not (ticks and self.start_ticks and ticks != self.start_ticks)


def flock_state(fd: int, exclusive: bool) -> bool | None:
    """Takes the lock on ``fd`` if free: True taken, False held by another, None no locks here."""
    try:
        import fcntl
    except ImportError:  # not on POSIX
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK, EOPNOTSUPP...: a file system without locks


TAKE_OVER, OURS, REFUSE = "take over", "ours", "refuse"


def judge(holder: Holder | None, held: bool | None, folder: Path) -> tuple[str, str]:
    """What this process may do with a lock file naming ``holder``; ``held``: whether its flock is
    held (None where the file system has no locks). Returns (verdict, message)."""
    me = Holder.this_process()
    lock = folder / LOCK_FILE
    if holder is None:
        if held:
            return (
                REFUSE,
                f"run folder {folder} is in use ({lock} is locked by a process that did not say who it is)",
            )
        return TAKE_OVER, ""
    same_launch = holder.launch is not None and holder.launch == me.launch
    if not is_rank_zero() and (same_launch or (holder.host == me.host and holder.pid == os.getppid())):
        return OURS, ""  # a DDP rank of the run that holds the lock
    if holder.host == me.host:
        alive = held if held is not None else holder.is_alive()
        if not alive:
            return TAKE_OVER, f"warning: taking over {lock}: its holder ({holder.describe()}) has ended"
        return REFUSE, (
            f"run folder {folder} is in use by {holder.describe()}; wait for it to end, "
            f"or start this run in another hydra.run.dir"
        )
    if same_launch:
        return TAKE_OVER, (
            f"warning: taking over {lock} from the earlier process of {holder.launch} "
            f"(pid {holder.pid} on host {holder.host}): the job was requeued"
        )
    return REFUSE, (
        f"run folder {folder} is in use by {holder.describe()}, which this host cannot check; if that "
        f"process has ended, delete {lock}, or start this run in another hydra.run.dir"
    )


def read_holder(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    return Holder.parse(os.read(fd, 4096).decode(errors="replace"))


def peek(folder: Path) -> tuple[str, str]:
    """``judge`` of the folder's lock without taking it or writing anything."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return TAKE_OVER, ""
    try:
        state = flock_state(fd, exclusive=False)
        return judge(read_holder(fd), None if state is None else not state, folder)
    finally:
        os.close(fd)  # also drops the shared lock if taken


class RunLock:
    """The exclusive lock of one run folder, held from ``acquire`` to ``release``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        """Creates ``run.lock`` (or replaces one its holder left), holding a flock on it.

        The new lock is written whole under a temporary name and linked or renamed into place,
        so a reader never sees half a record; a lock left behind is replaced only while holding
        its own flock, so two processes never both take it over.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            temporary = self.folder / f"{LOCK_FILE}.{os.getpid()}.tmp"
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, json.dumps(asdict(Holder.this_process())).encode())
                flock_state(fd, exclusive=True)  # a new file: free
                try:
                    os.link(temporary, self.path)
                    self.fd, fd = fd, None
                    return
                except FileExistsError:
                    pass
                except OSError as error:  # a file system without hard links
                    if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP):
                        raise
                    if not self.path.exists():
                        os.replace(temporary, self.path)
                        self.fd, fd = fd, None
                        return
                if self._take_over_from_holder(temporary):
                    self.fd, fd = fd, None
                    return
            finally:
                if fd is not None:
                    os.close(fd)
                temporary.unlink(missing_ok=True)
        raise UserError(f"could not take the lock {self.path}: it kept changing")

    def _take_over_from_holder(self, temporary: Path) -> bool:
        """Replaces the existing lock with ``temporary`` if its holder is gone (raises if it is
        not); False if the lock file changed meanwhile (try again)."""
        try:
            old = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            held = flock_state(old, exclusive=True)
            for _ in range(10):  # a DDP rank's look at the lock holds it for an instant
                if held is not False:
                    break
                time.sleep(0.1)
                held = flock_state(old, exclusive=True)
            if held is True and os.fstat(old).st_ino != os.stat(self.path).st_ino:
                return False  # released and replaced by its holder meanwhile
            verdict, message = judge(read_holder(old), None if held is None else not held, self.folder)
            if verdict == REFUSE:
                raise UserError(message)
            if message:
                print(message, file=sys.stderr, flush=True)
            os.replace(temporary, self.path)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(old)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None


# -- the start of a run -----------------------------------------------------------------------
@dataclass
class Start:
    folder: Path
    finished_summary: dict | None = None  # the run in the folder is finished with these settings
    checkpoint_step: int | None = None  # the global step of the checkpoint it resumes from (read once, here)


def read_checkpoint_record(path: str) -> dict:
    """The checkpoint's step, epoch and settings record (None: written before it had one)."""
    from sample_importance.config_checks import check_checkpoint_path
    from sample_importance.torch_files import read_torch_file

    path = check_checkpoint_path(path)
    checkpoint = read_torch_file(path, f"ckpt_path={path}")  # data only: a shared checkpoint cannot run code
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path={path} is not a Lightning checkpoint (no state_dict)")
    record = checkpoint.get(SETTINGS_KEY)
    return {
        "global_step": int(checkpoint.get("global_step", 0)),
        "epoch": int(checkpoint.get("epoch", -1)),
        "settings": record.get("settings") if isinstance(record, dict) else None,
    }


def read_summary(folder: Path) -> dict | None:
    try:
        summary = json.loads((folder / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def check_start(cfg: DictConfig, ckpt_path: str | None) -> Start:
    """May this process start (or continue) the run in ``cfg.paths.output_dir``? Raises a
    one-line ``UserError`` if not; writes nothing."""
    folder = Path(cfg.paths.output_dir)
    verdict, message = peek(folder)
    if verdict == REFUSE:
        raise UserError(message)
    start = Start(folder)
    own_checkpoint = bool(ckpt_path) and Path(ckpt_path).resolve().parent.parent == folder.resolve()
    if not own_checkpoint and (
        (folder / SUMMARY_FILE).is_file() or (folder / "checkpoints" / "last.ckpt").is_file()
    ):
        raise UserError(
            f"run folder {folder} already holds a run (summary.json or checkpoints/last.ckpt); it only "
            f"continues that run (auto_resume=true, or a ckpt_path from its checkpoints/): start this "
            f"one in another hydra.run.dir"
        )
    if not ckpt_path:
        return start
    record = read_checkpoint_record(ckpt_path)
    start.checkpoint_step = record["global_step"]
    settings = run_settings(cfg)
    if record["settings"] is None:
        if is_rank_zero():
            print(
                f"note: {ckpt_path} was written before checkpoints carried their run's settings; "
                f"resuming without comparing them",
                file=sys.stderr,
                flush=True,
            )
        changes = {}
    else:
        changes = setting_changes(record["settings"], settings)
    refused = {key: change for key, change in changes.items() if not is_allowed_change(key, *change)}
    if refused and not cfg.get(OVERRIDE, False):
        instead = (
            "start a new run in another hydra.run.dir"
            if own_checkpoint
            else "start a new run without ckpt_path"
        )
        raise UserError(
            f"{ckpt_path} was trained with other settings: {describe_changes(refused)}; "
            f"{instead}, or set {OVERRIDE}=true to continue anyway (recorded in summary.json)"
        )
    summary = read_summary(folder)
    own_last = Path(ckpt_path).resolve() == (folder / "checkpoints" / "last.ckpt").resolve()
    if (
        not changes
        and summary is not None
        and own_last
        and summary.get("total_steps") == record["global_step"]
        and record["epoch"] + 1 >= int(cfg.schedule.max_epochs)
    ):
        start.finished_summary = summary
    elif changes and is_rank_zero():
        print(
            f"{'warning' if refused else 'note'}: resuming {ckpt_path} with changed settings: "
            f"{describe_changes(changes)} (recorded in summary.json)",
            file=sys.stderr,
            flush=True,
        )
    return start


def report_finished(start: Start) -> None:
    summary = start.finished_summary
    if is_rank_zero():
        print(
            f"run folder {start.folder} holds this run, finished: "
            f"best test accuracy {summary['best_test_acc']:.4f} "
            f"at step {summary['best_step']}, final {summary['final_test_acc']:.4f} "
            f"({summary['total_steps']} steps); nothing was changed "
            f"(a larger schedule.max_epochs continues it)",
            flush=True,
        )


def write_hydra_files(task_cfg: DictConfig, folder: Path) -> None:
    """``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml`` as Hydra writes them, but only
    once the start is accepted (``hydra.output_subdir`` is null in ``configs/train.yaml``; a run
    that sets it gets Hydra's early write instead)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or HydraConfig.get().output_subdir is not None:
        return
    target = folder / HYDRA_FILES
    target.mkdir(parents=True, exist_ok=True)
    files = {
        "config.yaml": task_cfg,
        "hydra.yaml": HydraConfig.instance().cfg,
        "overrides.yaml": HydraConfig.get().overrides.task,
    }
    for name, node in files.items():
        (target / name).write_text(OmegaConf.to_yaml(node), encoding="utf-8")


def take_lock(folder: Path) -> RunLock | None:
    """The folder's lock, taken by rank 0 (the other ranks of a DDP run: None). Another live
    process's lock, or a folder that cannot be written, is a one-line ``UserError``."""
    if not is_rank_zero():
        return None
    lock = RunLock(folder)
    try:
        lock.acquire()
    except OSError as error:
        raise UserError(
            f"cannot write into the run folder {folder} ({type(error).__name__}: {error.strerror or error})"
        ) from error
    return lock


class RunFolder:
    """Holds the folder's lock (rank 0) for the ``with`` block; writes ``.hydra/`` on entry."""

    def __init__(self, cfg: DictConfig, start: Start):
        self.cfg, self.start = cfg, start
        self.lock: RunLock | None = None

    def __enter__(self) -> RunFolder:
        self.lock = take_lock(self.start.folder)
        if self.lock is not None:
            try:
                write_hydra_files(self.cfg, self.start.folder)
            except BaseException:
                self.lock.release()
                raise
        return self

    def __exit__(self, *exc) -> None:
        if self.lock is not None:
            self.lock.release()
