"""Helpers the benchmarks share: the framework's data and model from its configs, timing, results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def compose(overrides: list[str]):
    """The composed train config for ``overrides``, as the command line would give it, without Hydra's
    run dir."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    from sample_importance.cli import CONFIG_DIR

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = hydra_compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(REPO / "logs" / "bench")
        cfg.paths.data_dir = os.environ.get("SAMPLE_IMPORTANCE_DATA", str(REPO / "data"))
    return cfg


def build_plain(overrides: list[str]):
    """(datamodule, module, optimizer, cfg) built by the framework's own factories, set up for a plain
    loop."""
    import torch
    from hydra.utils import instantiate

    from sample_importance.train import build_classifier

    cfg = compose(overrides)
    torch.manual_seed(cfg.seed)
    datamodule = instantiate(cfg.dataset)
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = build_classifier(cfg, datamodule)
    return datamodule, module, plain_sgd(module.parameters(), cfg.schedule), cfg


def plain_sgd(parameters, schedule):
    """The plain loops' optimizer: SGD with the schedule's lr, momentum, Nesterov and weight decay (no
    decay steps)."""
    import torch

    return torch.optim.SGD(
        parameters,
        lr=schedule.lr,
        momentum=schedule.momentum,
        nesterov=schedule.nesterov,
        weight_decay=schedule.weight_decay,
    )


def plain_step(net, loss, optimizer, images, targets):
    """One step of the minimal PyTorch loop (mean of the per-sample ``loss``, SGD); the logits, detached."""
    logits = net(images)
    batch_loss = loss(logits, targets).mean()
    optimizer.zero_grad(set_to_none=True)
    batch_loss.backward()
    optimizer.step()
    return logits.detach()


def train_epoch(datamodule, module, optimizer, epoch: int) -> tuple[float, int]:
    """One plain PyTorch epoch over the framework's loader: (seconds, steps)."""
    module.train()
    datamodule.train_sampler().set_epoch(epoch)
    steps = 0
    start = time.perf_counter()
    for images, targets, _ in datamodule.train_dataloader():
        plain_step(module, module.loss, optimizer, images, targets)
        steps += 1
    return time.perf_counter() - start, steps


def median(values) -> float:
    return float(statistics.median(values))


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "name": name,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **result,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
