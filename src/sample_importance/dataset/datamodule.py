"""The DataModule: one source, its classes, subsets, imbalance, policies and pruning, and the IndexSampler."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler

from sample_importance.atomic import torch_save
from sample_importance.dataset import policy_data
from sample_importance.dataset.class_subset import OPTION as EXCLUDE_CLASSES
from sample_importance.dataset.class_subset import class_list, without_classes
from sample_importance.dataset.policies import PolicySet, check_policies
from sample_importance.dataset.pruning import Pruning
from sample_importance.dataset.tensor_data import collate
from sample_importance.dataset.variants import balanced_subset, choose_classes
from sample_importance.errors import ConfigError, UserError
from sample_importance.sampler.index_sampler import IndexSampler, TrainingDraws

log = logging.getLogger(__name__)

PRUNED_SAMPLES = "pruned_samples.pt"  # in the run folder: which training samples pruning kept


IMBALANCE_KEYS = ("class_fraction", "replication", "seed")


def check_dataset_settings(train_samples_per_class, test_samples_per_class, imbalance, num_workers) -> None:
    for key, value in (
        ("train_samples_per_class", train_samples_per_class),
        ("test_samples_per_class", test_samples_per_class),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ConfigError(f"dataset.{key} must be null (all) or an integer >= 1, got {value!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"dataset.num_workers must be an integer >= 0, got {num_workers!r}")
    if imbalance is None:
        return
    if not isinstance(imbalance, Mapping) or any(key not in imbalance for key in IMBALANCE_KEYS):
        raise ConfigError(
            f"dataset.imbalance must be null or {{class_fraction: F, replication: R, seed: S}} "
            f"(optionally with policies: [...]), got {imbalance!r}"
        )
    fraction, replication = imbalance["class_fraction"], imbalance["replication"]
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ConfigError(f"dataset.imbalance.class_fraction must be in (0, 1], got {fraction!r}")
    if isinstance(replication, bool) or not isinstance(replication, int) or replication < 1:
        raise ConfigError(f"dataset.imbalance.replication must be an integer >= 1, got {replication!r}")


def init_worker(worker_id: int, rank: int = 0) -> None:
    """Loader workers leave SIGTERM and SIGINT to the main process.

    A scheduler's SIGTERM and a terminal's Ctrl-C reach the whole process group; a worker killed
    by one would end the run with a traceback before the main process saves its checkpoint
    (callbacks/preemption.py). The main process shuts its workers down itself, and a worker
    whose main process is gone exits on its own. Lightning's per-worker seeding is kept.
    """
    import signal

    from lightning_fabric.utilities.seed import pl_worker_init_function

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pl_worker_init_function(worker_id, rank)


class ImageDataModule(pl.LightningDataModule):
    """Train/test data for image classification, with the sample index carried in every batch.

    Args:
        source: an object with ``prepare()``, ``load() -> ImageSplits`` and the attributes
            ``in_channels``, ``image_size``, ``num_classes``.
        exclude_classes: None, or class names or numbers (the source's numbering) left out of
            both splits; the other classes keep their order, numbered 0..K-1 (CIFAR-9 is CIFAR-10
            with ``[dog]``). Applied first: subsets, imbalance and policies see K classes.
        batch_size: the global batch size B (split evenly over DDP ranks, so T_e = floor(M / B)
            for any world size).
        train_samples_per_class, test_samples_per_class: seeded class-balanced subsets taken
            before any imbalance (None keeps all).
        imbalance: None, or ``{class_fraction, replication, seed}`` (paper Section 4.3), optionally
            with ``policies``: augmentation policies the copies cycle through, applied when drawn
            (without, the copies are fixed shifted images).
        augmentation_policies: None, or policy names: every training image appears once per
            policy, each (image, policy) pair its own sample (paper Section 4.4).
        score_with_policies: the scoring pass applies each sample's policy (a draw fixed by its
            index) instead of showing the plain image.
        seed: the sampler's seed (the run's seed).
        on_device: keep the images as tensors on the model's device (the GPU, when training on
            one) and gather, augment and normalise each batch there: only the batch's indices
            cross the bus. In-memory datasets only (not image files or augmentation policies),
            with ``num_workers=0`` (there is nothing left for workers to do). ``"auto"``: on the
            device for in-memory datasets without policies (the data is then at most a few
            hundred MB of uint8: CIFAR's 50,000 images take 150 MB), with no workers; otherwise
            the CPU loader with ``num_workers``.
        prune_scores_file, prune_fraction, prune_scores_order, prune_extra_iterations: data
            pruning (``pruning.Pruning``): train on the samples the scores file ranks highest.
            None (the default): no pruning.

    Every training set is a sample table (``policy_data``): sample i is (image, policy) row i, over
    the source's images in memory (``sources.ImageSplits``) or its files (``imagefolder.FileSplits``).
    """

    def __init__(
        self,
        source,
        batch_size: int = 128,
        exclude_classes: list | None = None,
        train_samples_per_class: int | None = None,
        test_samples_per_class: int | None = None,
        subset_seed: int = 0,
        imbalance: dict | None = None,
        augment: bool = True,
        num_workers: int = 0,
        eval_batch_size: int = 1024,
        seed: int = 0,
        augmentation_policies: list[str] | None = None,
        score_with_policies: bool = True,
        on_device: bool | str = False,
        prune_scores_file: str | None = None,
        prune_fraction: float | None = None,
        prune_scores_order: str | None = None,
        prune_extra_iterations: int | None = None,
    ) -> None:
        super().__init__()
        check_dataset_settings(train_samples_per_class, test_samples_per_class, imbalance, num_workers)
        self.source = source
        self.exclude_classes = class_list(exclude_classes, EXCLUDE_CLASSES)
        self.batch_size = int(batch_size)
        self.train_samples_per_class = train_samples_per_class
        self.test_samples_per_class = test_samples_per_class
        self.subset_seed = subset_seed
        self.imbalance = dict(imbalance) if imbalance else None
        self.augment = augment
        self.num_workers = num_workers
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.augmentation_policies = list(augmentation_policies) if augmentation_policies else None
        if self.augmentation_policies and self.imbalance:
            raise ConfigError(
                "dataset.augmentation_policies and dataset.imbalance cannot be combined: pick one"
            )
        if self.augmentation_policies:
            check_policies(self.augmentation_policies, "dataset.augmentation_policies")
        if self.imbalance and self.imbalance.get("policies") is not None:
            check_policies(self.imbalance["policies"], "dataset.imbalance.policies")
        self.score_with_policies = bool(score_with_policies)
        if on_device not in (True, False, "auto"):
            raise ConfigError(f"dataset.on_device must be true, false or auto, got {on_device!r}")
        self.on_device = on_device  # "auto" is decided in setup, once the kind of data is known
        if self.on_device is True and num_workers:
            raise ConfigError(f"dataset.on_device=true needs dataset.num_workers=0, got {num_workers}")
        self.pruning = (
            Pruning(prune_scores_file, prune_fraction, prune_scores_order, prune_extra_iterations)
            if prune_scores_file is not None
            else None
        )
        self.in_channels, self.image_size = source.in_channels, source.image_size
        # the class names are checked once the source has loaded them (setup)
        self.num_classes = source.num_classes - len(set(self.exclude_classes))
        self.class_names: list[str] = []
        self.excluded_class_names: list[str] = []
        self.augmented_classes: list[int] = []
        self.policy_names: list[str] = []
        # the datasets (``setup``): sample i of train_set and score_set is row i of the sample table
        self.train_set = self.score_set = self.test_set = None
        # per training sample: its image's index in the source's train split, its copy number, its policy
        self.train_origin = self.train_copy = self.train_policy = None
        self.sampler: IndexSampler | None = None
        self._pending_sampler_state: dict | None = None

    # -- data ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        self.source.prepare()

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        splits = self.source.load()
        if self.exclude_classes:
            every_class = splits.class_names
            splits = without_classes(splits, self.exclude_classes, EXCLUDE_CLASSES)
            self.excluded_class_names = [name for name in every_class if name not in splits.class_names]
        self.class_names = splits.class_names
        keep = balanced_subset(splits.train_labels, self.train_samples_per_class, self.subset_seed)
        test_keep = balanced_subset(splits.test_labels, self.test_samples_per_class, self.subset_seed)
        policy_names = self.augmentation_policies or (self.imbalance or {}).get("policies")
        if self.on_device is True and (policy_names or not splits.in_memory):
            raise ConfigError(
                "dataset.on_device=true works for in-memory datasets (digits, Fashion-MNIST, "
                "CIFAR) without augmentation policies; set dataset.on_device=false or auto"
            )
        if self.on_device == "auto":
            self.on_device = splits.in_memory and not policy_names
        if self.on_device:
            self.num_workers = 0
        policies = PolicySet(policy_names or ["standard"])
        origin, copy = keep, torch.zeros(len(keep), dtype=torch.long)  # of the images the table refers to
        if self.imbalance:
            self.augmented_classes = choose_classes(
                splits.num_classes, self.imbalance["class_fraction"], self.imbalance["seed"]
            )
        if self.augmentation_policies:
            table = policy_data.every_image_under_every_policy(len(keep), len(policies))
        elif self.imbalance and not policy_names and splits.in_memory:
            # the copies are stored images, each with a shift drawn once (variants.py)
            splits, copies = splits.fixed_copies(
                keep, self.augmented_classes, self.imbalance["replication"], self.imbalance["seed"]
            )
            origin, copy, keep = keep[copies.origin], copies.copy, torch.arange(len(copies.labels))
            table = policy_data.single_copies(len(keep))
        elif self.imbalance:
            table = policy_data.replicated_classes(
                splits.train_labels[keep],
                self.augmented_classes,
                self.imbalance["replication"],
                len(policies),
            )
        else:
            table = policy_data.single_copies(len(keep))
        self.policy_names = policies.names if policy_names else []
        # one of the two copy numbers is 0: stored copies sit in single-copy tables
        self.train_origin, self.train_copy = origin[table.origin], copy[table.origin] + table.copy
        self.train_policy = table.policy
        self.train_set, self.score_set, self.test_set = splits.datasets(
            keep, test_keep, table, policies, self.augment, self.score_with_policies
        )
        log.info(
            "dataset: %d training samples (%s) from %d images%s, %d test samples; augmented classes: %s",
            len(self.train_set),
            torch.bincount(self.train_set.labels, minlength=splits.num_classes).tolist(),
            len(keep),
            f" under policies {policies.names}" if policy_names else "",
            len(self.test_set),
            self.augmented_classes or "none",
        )
        if self.pruning is not None:
            self.prune()

    def prune(self) -> None:
        """Keep the training samples the scores file ranks highest (``dataset.prune_*``); record which."""
        kept = self.pruning.choose(self.train_set.labels, self.num_classes)
        self.keep_training_samples(kept)
        trainer = self.trainer
        if trainer is not None and trainer.is_global_zero:
            path = Path(trainer.default_root_dir) / PRUNED_SAMPLES
            path.parent.mkdir(parents=True, exist_ok=True)
            torch_save(self.pruning.record(), path)
        log.info(
            "pruned %d of %d training samples (the lowest %.0f%% by %s); training on %d",
            len(self.pruning.pruned),
            self.pruning.num_full,
            100 * self.pruning.fraction,
            self.pruning.scores_file,
            len(kept),
        )
        if self.pruning.extra_iterations is None:
            log.warning(
                "the scores file does not say how many training iterations it cost; set "
                "dataset.prune_extra_iterations=... so the report can count them"
            )

    @property
    def num_train(self) -> int:
        return len(self.train_set)

    def keep_training_samples(self, positions: torch.Tensor) -> None:
        """Train on a subset (data pruning): keep the training samples at ``positions``, in that order.

        Call after ``setup`` and before the sampler exists. Sample indices are renumbered
        0..M-1: batches, the sampler and any ``sample_weights.pt`` of this run refer to the kept
        subset.
        """
        if self.sampler is not None:
            raise RuntimeError("keep_training_samples must run before the training sampler is made")
        positions = torch.as_tensor(positions, dtype=torch.long)
        self.train_set, self.score_set = self.train_set.subset(positions), self.score_set.subset(positions)
        self.train_origin, self.train_copy = self.train_origin[positions], self.train_copy[positions]
        self.train_policy = self.train_policy[positions]

    def summary(self) -> dict:
        """What the run's summary.json records about the data beyond its settings."""
        summary = {"excluded_classes": self.excluded_class_names} if self.excluded_class_names else {}
        if self.pruning is not None:
            # extra_iterations at the top level: the report adds them to t_n (runs.Run.setting)
            summary.update(pruning=self.pruning.summary(), extra_iterations=self.pruning.extra_iterations)
        return summary

    # -- loaders ------------------------------------------------------------------------
    def _world(self) -> tuple[int, int]:
        trainer = self.trainer
        return (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)

    def per_device_batch_size(self) -> int:
        world, _ = self._world()
        if self.batch_size % world:
            raise ConfigError(
                f"schedule.batch_size={self.batch_size} is not divisible by the {world} DDP ranks"
            )
        return self.batch_size // world

    def train_sampler(self) -> IndexSampler:
        """The run's sampler, made once and kept: strategies set its weights, it is never rebuilt."""
        if self.sampler is None:
            world, rank = self._world()
            if math.ceil(self.num_train / world) < self.per_device_batch_size():
                raise UserError(
                    f"{self.num_train} training sample{'s' if self.num_train != 1 else ''}, fewer than "
                    f"one batch of {self.batch_size}: "
                    f"every epoch would train 0 steps (lower schedule.batch_size)"
                )
            self.sampler = IndexSampler(self.num_train, num_replicas=world, rank=rank, seed=self.seed)
            if self._pending_sampler_state is not None:
                self.sampler.load_state_dict(self._pending_sampler_state)
                self._pending_sampler_state = None
        return self.sampler

    def place_on_device(self, device=None) -> None:
        """With ``on_device``: move the data to ``device``, once.

        The default device is the trainer's; without a trainer, the data stays where it is."""
        if not self.on_device:
            return
        if device is None:
            if self.trainer is None:
                return
            device = self.trainer.strategy.root_device
        device = torch.device(device)
        if self.train_set.device != device:
            self.train_set.to(device)
            self.score_set = self.train_set.scoring_view()  # shares the moved tensors
        if self.test_set.device != device:
            self.test_set.to(device)

    def train_dataloader(self) -> DataLoader:
        self.place_on_device()
        sampler = self.train_sampler()
        if self.trainer is not None:
            # Lightning issue 21938: after a resume with workers, the first iterator is made
            # before set_epoch; take the epoch from the loop's progress instead.
            fit_loop = self.trainer.fit_loop
            sampler.set_epoch(fit_loop.epoch_progress.current.processed)
            # A mid-epoch checkpoint (preemption, every-N-steps) resumes after the batches done;
            # Lightning would otherwise replay the start of the interrupted epoch.
            batches = fit_loop.epoch_loop.batch_progress
            if fit_loop.restarting and batches.current.ready > 0 and not batches.is_last_batch:
                sampler.resume_mid_epoch(sampler.epoch, batches.current.ready * self.per_device_batch_size())
        # Draws, not bare indices: each batch's augmentation is seeded by its place in the run.
        return DataLoader(
            self.train_set,
            batch_size=self.per_device_batch_size(),
            sampler=TrainingDraws(sampler),
            drop_last=True,
            collate_fn=collate,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=self.loader_generator(),
            worker_init_fn=self.worker_init_fn(),
        )

    def worker_init_fn(self):
        return partial(init_worker, rank=self._world()[1]) if self.num_workers else None

    def loader_generator(self) -> torch.Generator:
        """A loader's own generator: without one, every iterator takes its workers' base seed from
        the global random stream, so an evaluation or scoring pass would shift what comes after it."""
        return torch.Generator().manual_seed(self.seed)

    def _eval_loader(self, dataset, sampler=None) -> DataLoader:
        self.place_on_device()
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            sampler=sampler,
            shuffle=False,
            collate_fn=collate,
            num_workers=self.num_workers,
            generator=self.loader_generator(),
            worker_init_fn=self.worker_init_fn(),
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)  # the paper tracks test accuracy over training

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

    def scoring_dataloader(self) -> DataLoader:
        """Every training sample, un-augmented, this rank's shard (gathered by index afterwards)."""
        self.place_on_device()  # before reading score_set: moving replaces it
        world, rank = self._world()
        sampler = (
            DistributedSampler(self.score_set, world, rank, shuffle=False, drop_last=False)
            if world > 1
            else None
        )
        return self._eval_loader(self.score_set, sampler)

    # -- checkpoint ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        kept = None if self.pruning is None else self.pruning.kept_from_full
        if self.sampler is not None:
            return {"sampler": self.sampler.state_dict(), "kept_from_full": kept}
        return {"sampler": self._pending_sampler_state, "kept_from_full": kept}

    def load_state_dict(self, state: dict) -> None:
        saved = state.get("kept_from_full")
        kept = None if self.pruning is None else self.pruning.kept_from_full
        if saved is not None and kept is not None and not torch.equal(saved, kept):
            raise UserError(
                f"dataset.prune_scores_file={self.pruning.scores_file} prunes other samples than "
                f"the checkpoint's run: resume with the same scores file and prune_fraction"
            )
        if state.get("sampler") is None:
            return
        if self.sampler is not None:
            self.sampler.load_state_dict(state["sampler"])
        else:
            self._pending_sampler_state = state["sampler"]
