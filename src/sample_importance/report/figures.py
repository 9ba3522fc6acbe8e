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
from sample_importance.report.analysis import MIN_SEEDS
from sample_importance.report.groups import ComparisonSet, Group
from sample_importance.report.names import setting_name

DPI = 110
BASELINE_LINE = dict(color="tab:red", linestyle="--", linewidth=1)


def new_figure(rows: int = 1, cols: int = 1, width: float = 6.0, height: float = 4.0):
    figure = Figure(figsize=(width * cols, height * rows), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def save(figure: Figure, path: Path) -> Path:
    """Write the PNG; the canvas grows to hold legends placed beside the axes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # long titles: a figure that cannot fit them is still readable
        warnings.simplefilter("ignore", UserWarning)
        figure.tight_layout()
    legends = [ax.get_legend() for ax in figure.axes if ax.get_legend() is not None] + list(figure.legends)
    extra = figure.get_default_bbox_extra_artists() + legends  # the legends are outside tight_layout
    with replaced_when_done(path) as temporary:
        figure.savefig(
            temporary,
            dpi=DPI,
            format=path.suffix.lstrip(".") or None,
            bbox_inches="tight",
            pad_inches=0.1,
            bbox_extra_artists=extra,
        )
    return path


def wrap(text: str, width: int = 70) -> str:
    return textwrap.fill(text, width)


def colors(count: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def outside_legend(ax, handles=None, labels=None, title: str | None = None) -> None:
    """The legend beside the axes (right of it), never over the curves."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        legend = ax.legend(
            handles,
            labels,
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            borderaxespad=0.0,
            title=title,
            title_fontsize=7,
            alignment="left",
        )
        # Out of tight_layout (which would shrink the axes to make room); savefig's tight box adds its width.
        legend.set_in_layout(False)


def legend_above(figure: Figure, handles: list, labels: list) -> None:
    """One legend for every panel, above them (panels side by side would cover each other's legends)."""
    legend = figure.legend(
        handles,
        labels,
        fontsize=7,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(handles), 4),
        frameon=False,
    )
    legend.set_in_layout(False)


def grid_shape(count: int, max_cols: int = 4) -> tuple[int, int]:
    cols = min(count, max_cols)
    return math.ceil(count / cols), cols


def seeds_text(count: int) -> str:
    return f"{count} seed" + ("" if count == 1 else "s")


def band_note(counts: list[int]) -> str:
    """What the shaded bands are, with a warning when they rest on fewer than MIN_SEEDS seeds."""
    note = "shaded: 16th-84th percentile over seeds"
    few = sorted({n for n in counts if n < MIN_SEEDS})
    if few == [1]:
        return note + "; 1 seed: no band"
    if few:
        return note + f"; from {' or '.join(str(n) for n in few)} seeds a band only spans those runs"
    return note


def group_name(group: Group) -> str:
    role = " (reference)" if group.is_baseline else ""
    return f"{group.label}{role}, n={len(group.runs)}"


def as_floats(values) -> np.ndarray:
    """Numbers from report.json, None (not reached, not computed) as NaN."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def mark_not_reached(ax, x: np.ndarray, missing: np.ndarray, row: int, color) -> None:
    """x marks at the bottom of ``ax`` where a curve has no value (A_b - eps not reached); one row of
    marks per curve, so that curves do not hide each other's."""
    from matplotlib.transforms import blended_transform_factory

    if missing.any():
        ax.plot(
            x[missing],
            np.full(missing.sum(), 0.03 + 0.035 * row),
            marker="x",
            color=color,
            linestyle="none",
            transform=blended_transform_factory(ax.transData, ax.transAxes),
            clip_on=False,
        )


def mark_switches_and_decays(ax, numbers: dict, color_of: dict) -> list:
    """Triangles on top of the axes at each group's switch (E), dotted grey lines at the lr decays."""
    from matplotlib.lines import Line2D
    from matplotlib.transforms import blended_transform_factory

    extra = []
    transform = blended_transform_factory(ax.transData, ax.transAxes)
    markers = numbers.get("markers") or {}
    for decay in markers.get("lr_decays", []):
        ax.axvline(decay, color="grey", linestyle=":", linewidth=1)
    if markers.get("lr_decays"):
        extra.append((Line2D([], [], color="grey", linestyle=":"), "learning-rate decay"))
    switched = False
    low, high = ax.get_xlim()
    for label, steps in markers.get("switches", {}).items():
        for step in steps:
            if low <= step <= high:  # a marker outside the axes would float beside them
                ax.plot(
                    [step],
                    [1.0],
                    marker="v",
                    markersize=7,
                    color=color_of.get(label, "black"),
                    transform=transform,
                    clip_on=False,
                    linestyle="none",
                    alpha=0.8,
                )
            switched = True
    if switched:
        extra.append(
            (Line2D([], [], marker="v", color="dimgrey", linestyle="none"), "switch to weighted drawing (E)")
        )
    return extra


# -- Fig. 1 --------------------------------------------------------------------------------
def accuracy_curves(comparison: ComparisonSet, numbers: dict, path: Path) -> Path:
    """Mean test accuracy with the 16-84 percentile band; A_b, each group's t_n (eps = 0), the
    switches and the learning-rate decays; the baseline drawn in black as the reference."""
    groups = [g for g in comparison.groups if g.runs]
    figure, axes = new_figure(1, 2, width=5.2, height=4.0)
    rows = {row["label"]: row for row in numbers["groups"]}
    palette = iter(colors(len(groups)))
    color_of = {g.label: ("black" if g.is_baseline else next(palette)) for g in groups}
    last_step = max(int(g.curves.steps[-1]) for g in groups)
    handles = []
    for ax, zoom in zip(axes[0], (False, True)):
        low_y, high_y = [], []
        for group in groups:
            color = color_of[group.label]
            curves = group.curves
            low, high = curves.band()
            reached = rows[group.label].get("speedup", {}).get("0", {}).get("t_n")
            name = group_name(group)
            if group.is_baseline:
                reached = numbers.get("t_b")
            elif "A_b" in numbers and reached is None:
                name += " (A_b not reached)"
            (line,) = ax.plot(
                curves.steps,
                curves.mean,
                color=color,
                linewidth=2.0 if group.is_baseline else 1.4,
                zorder=3 if group.is_baseline else 2,
            )
            if not zoom:
                handles.append((line, name))
            if len(group.runs) > 1:
                ax.fill_between(curves.steps, low, high, color=color, alpha=0.15, linewidth=0)
            for run in group.partial:
                if run.curve is not None:
                    ax.plot(*run.curve, color=color, linestyle=":", linewidth=0.8)
            if reached is not None:
                ax.axvline(reached, color=color, linestyle="--", linewidth=0.8)
            tail = curves.steps >= last_step / 2
            if tail.any():
                low_y.append(float(low[tail].min()))
                high_y.append(float(high[tail].max()))
        if "A_b" in numbers:
            line = ax.axhline(numbers["A_b"], **BASELINE_LINE)
            if not zoom:
                handles.append((line, f"A_b = {numbers['A_b']:.4f} (max mean of the reference)"))
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        if zoom and low_y:
            margin = max(1e-3, 0.1 * (max(high_y) - min(low_y)))
            ax.set_xlim(last_step / 2, last_step)
            ax.set_ylim(min(low_y) - margin, max(high_y) + margin)
            ax.set_title("second half of training", fontsize=9)
        else:
            ax.set_title(wrap(comparison.title, 60), fontsize=9)
        extra = mark_switches_and_decays(ax, numbers, color_of)
        if not zoom:
            handles += extra
    from matplotlib.lines import Line2D

    handles.append(
        (Line2D([], [], color="grey", linestyle="--", linewidth=0.8), "first iteration the mean reaches A_b")
    )
    note = band_note([len(g.runs) for g in groups])
    outside_legend(axes[0][1], [h for h, _ in handles], [n for _, n in handles], title=wrap(note, 45))
    return save(figure, path)


# -- Fig. 2 --------------------------------------------------------------------------------
def speedups(comparison: ComparisonSet, numbers: dict, path: Path) -> Path:
    """Speed-up t_b/t_n vs eps for every group; the reference at 1; x at the bottom where a group
    does not reach A_b - eps by t_b."""
    rows = [row for row in numbers["groups"] if "speedup_curve" in row and not row["baseline"]]
    figure, axes = new_figure(width=6.5)
    ax = axes[0][0]
    eps = np.array(numbers["eps_grid"])
    ax.axhline(
        1.0,
        color="black",
        linestyle="--",
        linewidth=1.5,
        label=f"{numbers.get('baseline')} (reference), t_b = {numbers.get('t_b')}",
    )
    for index, (row, color) in enumerate(zip(rows, colors(len(rows)))):
        values = as_floats(row["speedup_curve"])
        missing = np.isnan(values)
        name = f"{row['label']}, n={len(row['seeds'])}"
        if missing.all():
            name += ": not reached for any eps"
        elif missing.any():
            name += f": not reached for eps < {eps[~missing][0]:g}"
        ax.plot(eps, values, marker=".", color=color, label=name, drawstyle="steps-post")
        mark_not_reached(ax, eps, missing, index, color)
    if any(np.isnan(as_floats(r["speedup_curve"])).any() for r in rows):
        ax.plot(
            [], [], marker="x", color="dimgrey", linestyle="none", label="x: A_b - eps not reached by t_b"
        )
    suffix = ", extra iterations counted" if numbers.get("extra_iterations_counted") else ""
    ax.set_title(wrap(f"{comparison.title}: speed-up over {numbers.get('baseline')}{suffix}", 60), fontsize=9)
    ax.xaxis.set_major_formatter("{x:.3f}")
    ax.set_xticks(np.round(np.linspace(0.0, 0.01, 6), 3))
    ax.set_xlabel("tolerance eps (target A_b - eps)")
    ax.set_ylabel("speed-up t_b / t_n (iterations)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    outside_legend(ax)
    return save(figure, path)


# -- Fig. 4 --------------------------------------------------------------------------------
def augmented_vs_other(splits: list[tuple[Group, dict]], comparison: ComparisonSet, path: Path) -> Path:
    styles = {"all": "-", "augmented": "--", "other": ":"}
    figure, axes = new_figure(width=6.5)
    ax = axes[0][0]
    palette = iter(colors(len(splits)))
    for group, curves in splits:
        color = "black" if group.is_baseline else next(palette)
        for name, style in styles.items():
            ax.plot(
                curves[name].steps,
                curves[name].mean,
                color=color,
                linestyle=style,
                label=f"{group_name(group)} ({name})",
            )
    ax.set_title(
        wrap(f"{comparison.title}: all (solid), augmented (dashed), other (dotted) classes", 60), fontsize=9
    )
    ax.set_xlabel("training iterations")
    ax.set_ylabel("test accuracy (mean over seeds)")
    ax.grid(alpha=0.3)
    outside_legend(ax)
    return save(figure, path)


# -- Fig. 8 and 10 -------------------------------------------------------------------------
def sensitivity(key: str, panels: list, comparison: ComparisonSet, numbers: dict, path: Path) -> Path:
    """One panel per value of the other settings: a curve per value of ``key``, the reference in black."""
    rows, cols = len(panels), 1  # one column: each panel's legend sits beside it
    figure, axes = new_figure(rows, cols, width=7.0, height=3.8)
    baseline = comparison.baseline
    for ax, (fixed, groups) in zip(axes.flat, panels):
        for group, color in zip(groups, colors(len(groups))):
            curves = group.curves
            low, high = curves.band()
            ax.plot(curves.steps, curves.mean, color=color, label=group_name(group))
            if len(group.runs) > 1:
                ax.fill_between(curves.steps, low, high, color=color, alpha=0.15, linewidth=0)
        if baseline is not None:
            ax.plot(
                baseline.curves.steps,
                baseline.curves.mean,
                color="black",
                linewidth=2,
                label=group_name(baseline),
            )
        if "A_b" in numbers:
            ax.axhline(numbers["A_b"], label=f"A_b = {numbers['A_b']:.4f}", **BASELINE_LINE)
        mark_switches_and_decays(
            ax, {"markers": {"lr_decays": numbers.get("markers", {}).get("lr_decays", [])}}, {}
        )
        ax.set_title(wrap(f"{comparison.title}; {fixed}".strip("; "), 60), fontsize=8)
        ax.set_xlabel("training iterations")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
        counts = [len(g.runs) for g in groups]
        outside_legend(
            ax,
            title=wrap(
                band_note(counts)
                + ("; dotted: lr decays" if numbers.get("markers", {}).get("lr_decays") else ""),
                45,
            ),
        )
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    return save(figure, path)


def sensitivity_summary(
    key: str, summary: list[dict], comparison: ComparisonSet, numbers: dict, path: Path
) -> Path:
    """Fig. 8/10 condensed: maximum mean accuracy and speed-up at eps = 0.005 against the swept value."""
    short = f"{setting_name(key)} ({key})"
    figure, axes = new_figure(1, 2, width=4.6, height=3.6)
    acc_ax, speed_ax = axes[0]
    panels = [p for p in summary if len(p["points"]) > 0]
    for index, (panel, color) in enumerate(zip(panels, colors(len(panels)))):
        points = sorted(panel["points"], key=lambda p: p["value"])
        values = np.array([p["value"] for p in points], dtype=float)
        # panels side by side at each value, so their bars do not cover each other
        span = np.ptp([p["value"] for panel in panels for p in panel["points"]]) or 1.0
        x = values + 0.015 * span * (index - (len(panels) - 1) / 2)
        label = (panel["fixed"] or "all") + f", n={'/'.join(sorted({str(p['seeds']) for p in points}))}"
        # bands as vertical bars from the 16th to the 84th percentile (a speed-up band is over the seeds
        # that reach A_b - eps, so it need not contain the mean curve's speed-up)
        acc_ax.plot(x, [p["max_mean_acc"] for p in points], color=color, marker="o", label=label)
        acc_ax.vlines(
            x,
            [p["acc_p16"] for p in points],
            [p["acc_p84"] for p in points],
            color=color,
            linewidth=3,
            alpha=0.4,
        )
        acc_ax.set_xticks(values)
        if any("speedup" in p for p in points):
            speed = as_floats(p.get("speedup") for p in points)
            low = as_floats(p.get("speedup_p16") for p in points)
            high = as_floats(p.get("speedup_p84") for p in points)
            speed_ax.plot(x, speed, color=color, marker="o", label=label)
            speed_ax.vlines(x, low, high, color=color, linewidth=3, alpha=0.4)
            speed_ax.plot(
                np.r_[x, x],
                np.r_[low, high],
                marker="_",
                markersize=8,
                color=color,
                linestyle="none",
                alpha=0.7,
            )  # a band of one value (one seed reached it) still shows
            speed_ax.set_xticks(values)
            mark_not_reached(speed_ax, x, np.isnan(speed), index, color)
    if "A_b" in numbers:
        acc_ax.axhline(numbers["A_b"], label=f"A_b ({numbers.get('baseline')})", **BASELINE_LINE)
        speed_ax.axhline(
            1.0, color="black", linestyle="--", linewidth=1.2, label=f"{numbers.get('baseline')} = 1"
        )
        speed_ax.plot([], [], marker="x", color="dimgrey", linestyle="none", label="x: not reached")
    eps = summary[0]["eps"] if summary else "0.005"
    acc_ax.set_xlabel(short)
    acc_ax.set_ylabel("maximum mean test accuracy")
    acc_ax.set_title(wrap(f"{comparison.title}: sensitivity to {setting_name(key)}", 50), fontsize=8)
    speed_ax.set_xlabel(short)
    speed_ax.set_ylabel(f"speed-up t_b / t_n at eps = {eps}")
    speed_ax.set_ylim(bottom=0)
    speed_ax.set_title("mean curve's speed-up; bars: 16-84% of the seeds that reach it", fontsize=8)
    for ax in (acc_ax, speed_ax):
        ax.grid(alpha=0.3)
    counts = [p["seeds"] for panel in panels for p in panel["points"]]
    handles, labels = speed_ax.get_legend_handles_labels()
    for handle, label in zip(*acc_ax.get_legend_handles_labels()):
        if label.startswith("A_b"):
            handles.insert(0, handle)
            labels.insert(0, label)
    outside_legend(
        speed_ax,
        handles,
        labels,
        title=wrap(
            "bars: 16th-84th percentile over seeds"
            + ("; under 3 seeds they only span the runs" if min(counts, default=3) < MIN_SEEDS else ""),
            40,
        ),
    )
    return save(figure, path)


# -- Fig. 3, 11, 15 ------------------------------------------------------------------------
def class_importance(numbers: dict, path: Path) -> Path:
    """Each class's share of the weight: mean over seeds, 16-84% error bars, the uniform share 1/C."""
    from matplotlib.patches import Patch

    groups = numbers["groups"]
    rows, cols = grid_shape(len(groups), 2)
    names = numbers["class_names"]
    figure, axes = new_figure(rows, cols, width=max(5.0, 0.45 * len(names) + 2), height=3.8)
    augmented = set(numbers["augmented_classes"])
    for ax, group in zip(axes.flat, groups):
        mean = np.array(group["class_importance_mean"])
        error = np.abs(
            np.stack(
                [
                    mean - np.array(group["class_importance_p16"]),
                    np.array(group["class_importance_p84"]) - mean,
                ]
            )
        )
        bar_colors = ["tab:orange" if c in augmented else "tab:blue" for c in range(len(mean))]
        seeds = len(group["seeds"])
        ax.bar(range(len(mean)), mean, yerr=error if seeds > 1 else None, color=bar_colors, capsize=2)
        ax.axhline(1 / len(mean), color="grey", linewidth=1, linestyle=":")
        rho = group["spearman_between_seeds"]
        rho_text = f"mean Spearman rho between seeds {rho:.2f}" if rho is not None else "one seed: no rho"
        ax.set_title(wrap(group["label"], 60) + f"\n{rho_text}, {seeds_text(seeds)}", fontsize=8)
        ax.set_xticks(range(len(mean)))
        ax.set_xticklabels(names[: len(mean)], rotation=60, fontsize=7, ha="right")
        ax.set_xlabel("class")
        ax.set_ylabel("share of the total weight")
    handles = [
        Patch(color="tab:blue", label="mean share over seeds, error bars 16th-84th percentile"),
        plt_line("grey", ":", f"uniform share 1/C = {1 / len(names):.3g}"),
    ]
    if augmented:
        handles.insert(1, Patch(color="tab:orange", label="replicated (augmented) class"))
    legend_above(figure, handles, [h.get_label() for h in handles])
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    return save(figure, path)


def plt_line(color: str, style: str, label: str):
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, linestyle=style, label=label)


# -- Fig. 13 -------------------------------------------------------------------------------
def sorted_weights(bucket: list, path: Path) -> Path:
    """Samples sorted by their mean weight over seeds; each seed's weights in a colour of its own."""
    from matplotlib.lines import Line2D

    rows, cols = grid_shape(len(bucket), 2)
    figure, axes = new_figure(rows, cols, width=5.5)
    seeds = sorted({s for item in bucket for s in item.seeds}, key=str)
    palette = dict(zip(seeds, [c for c in colors(len(seeds) + 1) if c != colors(4)[3]]))  # red is the mean's
    for ax, item in zip(axes.flat, bucket):
        mean, per_seed = metrics.sorted_by_mean(item.weights)
        rank = np.arange(1, len(mean) + 1)
        for seed, seed_weights in zip(item.seeds, per_seed):
            ax.scatter(rank, seed_weights, s=3, color=palette[seed], alpha=0.5, linewidths=0, rasterized=True)
        ax.plot(rank, mean, color="tab:red", linestyle="--", linewidth=1.2)
        ax.set_title(wrap(f"{item.group.full_label} ({seeds_text(len(item.seeds))})", 60), fontsize=8)
        ax.set_xlabel("rank r by mean weight (lowest first)")
        ax.set_ylabel("sample weight w_i")
    handles = [
        Line2D([], [], marker="o", linestyle="none", color=palette[s], label=f"seed {s}") for s in seeds
    ]
    handles.append(Line2D([], [], color="tab:red", linestyle="--", label="mean weight over seeds"))
    legend_above(figure, handles, [h.get_label() for h in handles])
    for ax in list(axes.flat)[len(bucket) :]:
        ax.set_visible(False)
    return save(figure, path)


# -- Fig. 18-19 ----------------------------------------------------------------------------
def mosaic(images: list[list[np.ndarray | None]], pad: int = 2) -> np.ndarray:
    """One RGB array of equally sized tiles (grey images become RGB, missing ones stay white)."""
    tiles = [image for row in images for image in row if image is not None]
    height, width = tiles[0].shape[:2]
    canvas = np.full(
        (len(images) * (height + pad) + pad, len(images[0]) * (width + pad) + pad, 3), 255, np.uint8
    )
    for r, row in enumerate(images):
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
            top, left = pad + r * (height + pad), pad + c * (width + pad)
            canvas[top : top + height, left : left + width] = tile[:height, :width, :3]
    return canvas


def image_table(
    images: list[list[np.ndarray | None]],
    row_names: list[str],
    col_names: list[str],
    title: str,
    path: Path,
    pad: int = 2,
) -> Path:
    """Images in a table: rows are seeds, columns classes (drawn as one mosaic: fast for many tiles)."""
    canvas = mosaic(images, pad)
    tile_h = (canvas.shape[0] - pad) / len(images)
    tile_w = (canvas.shape[1] - pad) / len(col_names)
    figure, axes = new_figure(
        width=max(4.0, 0.7 * len(col_names) + 1.5), height=max(2.0, 0.7 * len(images) + 1.2)
    )
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
