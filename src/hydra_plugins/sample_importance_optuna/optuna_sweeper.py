"""``hydra/sweeper=optuna``: an Optuna search over an app's settings, optimising what the app returns.

Each trial is one job of the sweep, numbered and foldered like any sweep job: Optuna's sampler
proposes the values (``study.ask``), Hydra's launcher runs the job, and the job's return value goes
back to the study (``study.tell``). The study is stored in SQLite, by default ``optuna.db`` in the
sweep folder, so it can be inspected (``optuna.load_study``) or continued (point ``storage`` at it).

The search space is ``hydra.sweeper.params`` (and sweep overrides on the command line), in Hydra's
sweep syntax:

- ``choice(a, b, c)`` (or ``a,b,c``): one of the values;
- ``range(start, stop[, step])``: an integer in ``start .. stop - 1``;
- ``interval(low, high)``: a float in [low, high]; ``tag(log, interval(...))`` on a log scale,
  ``tag(int, interval(...))`` an integer;
- a plain value: the same in every trial.

On the command line (with ``-m``), ``KEY=SWEEP`` adds to the space or replaces the config's entry
for KEY. A configured key that the run's config does not have (a sampler without a burn-in) is
left out of the search.

A trial whose job stops with a one-line error (for instance a diverged run: exit code 2) or returns
no finite number is recorded as failed and the search goes on; any other exception stops the sweep,
as with Hydra's basic sweeper. Written over Optuna's ask/tell interface (Optuna >= 3); Hydra's own
Optuna plugin requires Optuna < 3.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep, Transformer
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

ABSENT = object()
RESULTS_FILE = "optimization_results.yaml"
STUDY_FILE = "optuna.db"


def distribution(override: Override):
    """The Optuna distribution of one sweep override."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    key = override.get_key_element()
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise HydraException(
                f"hydra.sweeper.params: {key}={override.get_value_element_as_str()} is empty"
            )
        step = sweep.step if sweep.step is not None else 1
        if all(isinstance(v, int) for v in values):
            return IntDistribution(values[0], values[-1], step=int(step))
        return FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
    if isinstance(sweep, IntervalSweep):
        log_scale = "log" in sweep.tags
        if "int" in sweep.tags:
            return IntDistribution(int(sweep.start), int(sweep.end), log=log_scale)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
    raise HydraException(
        f"hydra.sweeper.params: {key}: unsupported sweep {override.get_value_element_as_str()}"
    )


def override_value(value: Any) -> str:
    """A trial's value as a command-line value (categorical values are already encoded strings)."""
    return repr(value) if isinstance(value, float) else str(value)


class OptunaSweeper(Sweeper):
    """See the module docstring. Settings (``configs/hydra/sweeper/optuna.yaml``):

    Args:
        params: the search space, ``{key: sweep}``.
        n_trials: trials to run (added to those a continued study already has).
        n_jobs: trials proposed and launched together (a parallel launcher runs them at once).
        direction: ``maximize`` or ``minimize`` the app's return value.
        study_name: the study's name in the storage.
        storage: an Optuna storage URL; null: ``sqlite:///<sweep folder>/optuna.db``.
        sampler: an Optuna sampler (``_target_`` config, e.g. TPESampler with a seed).
    """

    def __init__(
        self,
        params: DictConfig | dict | None = None,
        n_trials: int = 20,
        n_jobs: int = 1,
        direction: str = "maximize",
        study_name: str = "search",
        storage: str | None = None,
        sampler: Any = None,
    ) -> None:
        if direction not in ("maximize", "minimize"):
            raise HydraException(f"hydra.sweeper.direction must be maximize or minimize, got {direction!r}")
        if int(n_trials) < 1 or int(n_jobs) < 1:
            raise HydraException(
                f"hydra.sweeper.n_trials and n_jobs must be >= 1, got {n_trials} and {n_jobs}"
            )
        if isinstance(params, DictConfig):
            params = OmegaConf.to_container(params, resolve=True)
        self.params = dict(params or {})
        self.n_trials, self.n_jobs = int(n_trials), int(n_jobs)
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.sampler = sampler
        self.config: DictConfig | None = None
        self.launcher = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def search_space(self, arguments: list[str]) -> tuple[list[str], dict]:
        """(fixed overrides, {key: distribution}); the command line's values replace the config's.

        A searched key the composed config does not have (``sampler.gamma`` with
        ``method=sgd_scan``) is left out, in one log line, so one search config serves every method.
        """
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        configured = set(self.params)
        by_key: dict[str, Override] = {}
        for override in parser.parse_overrides(
            [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        ):
            by_key[override.get_key_element()] = override
        fixed, space, absent = [], {}, []
        for key, override in by_key.items():
            present = OmegaConf.select(self.config, key, default=ABSENT, throw_on_resolution_failure=False)
            if key in configured and present is ABSENT:
                absent.append(key)
            elif override.is_sweep_override():
                space[key] = distribution(override)
            else:
                fixed.append(f"{key}={override.get_value_element_as_str()}")
        if absent:
            log.info("not in this run's config, left out of the search: %s", ", ".join(absent))
        return fixed, space

    def sweep(self, arguments: list[str]) -> Any:
        import optuna
        from hydra.utils import instantiate

        fixed, space = self.search_space(arguments)
        if not space:
            raise HydraException(
                "hydra/sweeper=optuna: nothing to search (hydra.sweeper.params has no sweep)"
            )
        sweep_dir = Path(str(self.config.hydra.sweep.dir)).resolve()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        storage = self.storage or f"sqlite:///{sweep_dir / STUDY_FILE}"
        sampler = instantiate(self.sampler) if isinstance(self.sampler, (dict, DictConfig)) else self.sampler
        study = optuna.create_study(
            study_name=self.study_name,
            storage=storage,
            sampler=sampler,
            direction=self.direction,
            load_if_exists=True,
        )
        log.info(
            "Optuna study %r in %s: %d trials, %s the return value over %s",
            self.study_name,
            storage,
            self.n_trials,
            self.direction,
            ", ".join(space),
        )
        job_idx = len(study.trials)  # a continued study's new jobs come after its old ones
        returns = []
        for start in range(0, self.n_trials, self.n_jobs):
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - start))]
            batch = [
                fixed + [f"{key}={override_value(trial.params[key])}" for key in space] for trial in trials
            ]
            self.validate_batch_is_legal(batch)
            try:
                results = self.launcher.launch(batch, initial_job_idx=job_idx)
            except SystemExit as stop:  # a job printed a one-line error and exited (cli.exit_on_user_error)
                if stop.code in (0, None):
                    raise
                results = [None] * len(trials)
            for trial, result in zip(trials, results):
                self.tell(study, trial, result)
            job_idx += len(trials)
            returns.append(results)
        self.write_results(study, storage, sweep_dir)
        return returns

    def tell(self, study, trial, result) -> None:
        from optuna.trial import TrialState

        if result is not None and result.status == JobStatus.FAILED:
            _ = result.return_value  # re-raises the job's exception, as the basic sweeper does
        value = None if result is None else result.return_value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            study.tell(trial, float(value))
            log.info("trial %d returned %s", trial.number, value)
        else:
            study.tell(trial, state=TrialState.FAIL)
            log.warning(
                "trial %d failed (%s): recorded as failed, the search goes on",
                trial.number,
                "the job stopped with an error" if result is None else f"it returned {value!r}",
            )

    def write_results(self, study, storage: str, sweep_dir: Path) -> None:
        from optuna.trial import TrialState

        completed = [t for t in study.trials if t.state == TrialState.COMPLETE]
        record = {
            "study_name": self.study_name,
            "storage": storage,
            "direction": self.direction,
            "trials": len(study.trials),
            "completed": len(completed),
        }
        if completed:
            best = study.best_trial
            record.update(best_value=best.value, best_params=dict(best.params), best_trial=best.number)
            log.info(
                "best of %d trials: %s (trial %d) with %s; %s",
                len(completed),
                best.value,
                best.number,
                " ".join(f"{k}={override_value(v)}" for k, v in best.params.items()),
                sweep_dir / RESULTS_FILE,
            )
        OmegaConf.save(OmegaConf.create(record), sweep_dir / RESULTS_FILE)
