"""The paper's figures as PNG files (matplotlib's Agg canvas: no display, no pyplot state)."""

from __future__ import annotations

import math
import textwrap
import warnings
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sample_importance.atomic import replaced_when_done
from sample_importance.report import metrics
from sample_importance.report.groups import ComparisonSet, Group

DPI = 110
BASELINE_LINE = dict(color="tab:red", linestyle="--", linewidth=1)


def new_figure(rows: int = 1, cols: int = 1, width: float = 6.0, height: float = 4.0):
    figure = Figure(figsize=(width * cols, height * rows), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # long titles: a figure that cannot fit them is still readable
        warnings.simplefilter("ignore", UserWarning)
        figure.tight_layout()
    with replaced_when_done(path) as temporary:
        figure.savefig(temporary, dpi=DPI, format=path.suffix.lstrip(".") or None)
    return path


def wrap(text: str, width: int = 70) -> str:
    return textwrap.fill(text, width)


def colors(count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


# With more entries than this, a legend goes beside the plot instead of over the curves.
LEGEND_INSIDE_MAX = 6
LEGEND_WIDTH = 4.0  # inches added to the figure for a legend beside the plot


def legend(ax, count: int, **inside) -> None:
    if count > LEGEND_INSIDE_MAX:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.legend(**{"fontsize": 7, **inside})


def grid_shape(count: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


# -- Fig. 1 --------------------------------------------------------------------------------
def accuracy_curves(comparison: ComparisonSet, numbers: dict, path: Path) -> Path:
    """Mean test accuracy with the 16-84 percentile band; A_b and each group's t_n (eps = 0)."""
    groups = [g for g in comparison.groups if g.runs]
    beside = len(groups) + 1 > LEGEND_INSIDE_MAX  # the groups and A_b
    figure, axes = new_figure(1, 2, width=6.5 + (LEGEND_WIDTH / 2 if beside else 0))
    rows = {row["label"]: row for row in numbers["groups"]}
    last_step = max(int(g.curves.steps[-1]) for g in groups)
    for ax, zoom in zip(axes[0], (False, True)):
        low_y, high_y = [], []
        for group, color in zip(groups, colors(len(groups))):
            curves = group.curves
            low, high = curves.band()
            name = f"{group.label} (n={len(group.runs)})" + (" [baseline]" if group.is_baseline else "")
            ax.plot(curves.steps, curves.mean, color=color, label=name, linewidth=1.5)
            ax.fill_between(curves.steps, low, high, color=color, alpha=0.2, linewidth=0)
            for run in group.partial:
                if run.curve is not None:
                    ax.plot(*run.curve, color=color, linestyle=":", linewidth=0.8)
            reached = rows[group.label].get("speedup", {}).get("0", {}).get("t_n")
            if reached is not None:
                ax.axvline(reached, color=color, linestyle="--", linewidth=0.8)
            tail = curves.steps >= last_step / 2
            if tail.any():
                low_y.append(float(low[tail].min()))
                high_y.append(float(high[tail].max()))
        if "A_b" in numbers:
            ax.axhline(numbers["A_b"], label=f"A_b = {numbers['A_b']:.4f}", **BASELINE_LINE)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        if zoom and low_y:
            margin = max(1e-3, 0.1 * (max(high_y) - min(low_y)))
            ax.set_xlim(last_step / 2, last_step)
            ax.set_ylim(min(low_y) - margin, max(high_y) + margin)
            ax.set_title("second half of training", fontsize=9)
        else:
            ax.set_title(wrap(comparison.title), fontsize=9)
            legend(ax, len(groups) + 1, loc="lower right")
    return save(figure, path)


# -- Fig. 2 --------------------------------------------------------------------------------
def speedups(comparison: ComparisonSet, numbers: dict, path: Path) -> Path:
    rows = [row for row in numbers["groups"] if "speedup_curve" in row]
    figure, axes = new_figure(width=6.0 + (LEGEND_WIDTH if len(rows) > LEGEND_INSIDE_MAX else 0))
    ax = axes[0][0]
    for row, color in zip(rows, colors(len(rows))):
        values = np.array([np.nan if v is None else v for v in row["speedup_curve"]], dtype=float)
        ax.plot(numbers["eps_grid"], values, marker=".", color=color, label=row["label"], drawstyle="steps-post",
                linestyle="--" if row["baseline"] else "-")
    suffix = ", extra iterations counted" if numbers.get("extra_iterations_counted") else ""
    ax.set_title(wrap(f"{comparison.title}: speed-up t_b/t_n vs {numbers.get('baseline')}{suffix}"), fontsize=9)
    ax.set_xlabel("tolerance eps")
    ax.set_ylabel("speed-up t_b / t_n")
    ax.grid(alpha=0.3)
    legend(ax, len(rows))
    return save(figure, path)


# -- Fig. 4 --------------------------------------------------------------------------------
def augmented_vs_other(splits: list[tuple[Group, dict]], title: str, path: Path) -> Path:
    styles = {"all": "-", "augmented": "--", "other": ":"}
    entries = len(splits) * len(styles)
    figure, axes = new_figure(width=7 + (LEGEND_WIDTH if entries > LEGEND_INSIDE_MAX else 0))
    ax = axes[0][0]
    for (group, curves), color in zip(splits, colors(len(splits))):
        for name, style in styles.items():
            ax.plot(curves[name].steps, curves[name].mean, color=color, linestyle=style,
                    label=f"{group.label} ({name})")
    ax.set_title(wrap(f"{title}: all (solid), augmented (dashed), other (dotted) classes"), fontsize=9)
    ax.set_xlabel("training iterations")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    legend(ax, entries, fontsize=6, ncol=2)
    return save(figure, path)


# -- Fig. 8 and 10 -------------------------------------------------------------------------
def sensitivity(key: str, panels: list, baseline: Group | None, title: str, path: Path) -> Path:
    rows, cols = grid_shape(len(panels), 3)
    figure, axes = new_figure(rows, cols, width=5.5)
    for ax, (fixed, groups) in zip(axes.flat, panels):
        for group, color in zip(groups, colors(len(groups))):
            curves = group.curves
            low, high = curves.band()
            ax.plot(curves.steps, curves.mean, color=color, label=f"{key.split('.')[-1]}={group.settings[key]}")
            ax.fill_between(curves.steps, low, high, color=color, alpha=0.15, linewidth=0)
        if baseline is not None:
            ax.plot(baseline.curves.steps, baseline.curves.mean, color="black", linestyle="--",
                    label=f"{baseline.label} (baseline)")
        ax.set_title(wrap(f"{title} {fixed}".strip(), 60), fontsize=8)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return save(figure, path)


# -- Fig. 3, 11, 15 ------------------------------------------------------------------------
def class_importance(numbers: dict, path: Path) -> Path:
    groups = numbers["groups"]
    rows, cols = grid_shape(len(groups), 2)
    names = numbers["class_names"]
    figure, axes = new_figure(rows, cols, width=max(5.0, 0.45 * len(names) + 2), height=3.6)
    augmented = set(numbers["augmented_classes"])
    for ax, group in zip(axes.flat, groups):
        mean = np.array(group["class_importance_mean"])
        error = np.abs(np.stack([mean - np.array(group["class_importance_p16"]),
                                 np.array(group["class_importance_p84"]) - mean]))
        bar_colors = ["tab:orange" if c in augmented else "tab:blue" for c in range(len(mean))]
        ax.bar(range(len(mean)), mean, yerr=error, color=bar_colors, capsize=2)
        ax.axhline(1 / len(mean), color="grey", linewidth=0.8, linestyle=":")
        rho = group["spearman_between_seeds"]
        rho_text = f"rho between seeds {rho:.2f}" if rho is not None else "one seed"
        caption = f"{rho_text}, n={len(group['seeds'])}" + ("; orange: replicated classes" if augmented else "")
        ax.set_title(wrap(group["label"], 60) + "\n" + caption, fontsize=8)
        ax.set_xticks(range(len(mean)))
        ax.set_xticklabels(names[:len(mean)], rotation=60, fontsize=7, ha="right")
        ax.set_ylabel("class importance")
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    return save(figure, path)


# -- Fig. 13 -------------------------------------------------------------------------------
def sorted_weights(bucket: list, path: Path) -> Path:
    rows, cols = grid_shape(len(bucket), 2)
    figure, axes = new_figure(rows, cols, width=6)
    for ax, item in zip(axes.flat, bucket):
        mean, per_seed = metrics.sorted_by_mean(item.weights)
        rank = np.arange(1, len(mean) + 1)
        for seed_weights in per_seed:
            ax.scatter(rank, seed_weights, s=2, color="navy", alpha=0.3, linewidths=0, rasterized=True)
        ax.plot(rank, mean, color="tab:red", linestyle="--", linewidth=1.2, label="mean over seeds")
        ax.set_title(wrap(f"{item.group.full_label} (n={len(item.seeds)})", 60), fontsize=8)
        ax.set_xlabel("rank by mean weight")
        ax.set_ylabel("sample weight w_i")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(bucket):]:
        ax.set_visible(False)
    return save(figure, path)


# -- Fig. 18-19 ----------------------------------------------------------------------------
def mosaic(images: list[list[np.ndarray | None]], pad: int = 2) -> np.ndarray:
    """One RGB array of equally sized tiles (grey images become RGB, missing ones stay white)."""
    tiles = [image for row in images for image in row if image is not None]
    height, width = tiles[0].shape[:2]
    canvas = np.full((len(images) * (height + pad) + pad, len(images[0]) * (width + pad) + pad, 3), 255, np.uint8)
    for r, row in enumerate(images):
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[top:top + height, left:left + width] = tile[:height, :width, :3]
    return canvas


def image_table(images: list[list[np.ndarray | None]], row_names: list[str], col_names: list[str], title: str,
                path: Path, pad: int = 2) -> Path:
    """Images in a table: rows are seeds, columns classes (drawn as one mosaic: fast for many tiles)."""
    canvas = mosaic(images, pad)
    tile_h = (canvas.shape[0] - pad) / len(images)
    tile_w = (canvas.shape[1] - pad) / len(col_names)
    figure, axes = new_figure(width=max(4.0, 0.7 * len(col_names) + 1.5), height=max(2.0, 0.7 * len(images) + 1.2))
    ax = axes[0][0]
    ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([pad + tile_w * (c + 0.5) for c in range(len(col_names))])
    ax.set_xticklabels(col_names, rotation=60, fontsize=7, ha="right")
    ax.set_yticks([pad + tile_h * (r + 0.5) for r in range(len(images))])
    ax.set_yticklabels(row_names, fontsize=7)
    ax.tick_params(length=0)
    ax.set_title(wrap(title, 90), fontsize=8)
    return save(figure, path)


def logged_grids(grids: list[tuple[str, np.ndarray]], title: str, path: Path) -> Path:
    """The switch's grids from TensorBoard, one row per seed (top: easiest per class, bottom: hardest)."""
    figure, axes = new_figure(len(grids), 1, width=8, height=2.2)
    for ax, (name, image) in zip(axes[:, 0], grids):
        ax.imshow(image, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, fontsize=8)
    figure.suptitle(wrap(title, 90), fontsize=8)
    return save(figure, path)
