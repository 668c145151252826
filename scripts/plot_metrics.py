"""Draw a run's training curves: ``python scripts/plot_metrics.py RUN_DIR [--out FILE]``.

Reads ``RUN_DIR/metrics.jsonl`` (written by pretraining and finetuning) and writes
``RUN_DIR/training_curves.png`` (or ``--out``): the training and validation losses, overall and
per objective (token spans, sentences, document), the validation top-1 accuracy of each
objective beside the accuracy of always predicting its most frequent token (and, where logged,
over the text tokens and over each span's first token), and the learning rate. Prints the path
of the picture.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_bad_input  # noqa: E402
from common.paths import check_not_an_input  # noqa: E402

OBJECTIVES = {"": "all", "_bert": "token spans", "_sentence": "sentences", "_gpt": "document"}


def read_series(path: Path) -> dict[str, list[tuple[int, float]]]:
    """``{metric: [(step, value), ...]}`` from a metrics.jsonl file."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give the folder of a training run")
    series: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path}:{number}: not a JSON line") from None
        step = record.get("step")
        for key, value in record.items():
            if key != "step" and isinstance(value, int | float):
                series[key].append((step, float(value)))
    if not series:
        raise ValueError(f"{path} holds no metrics yet")
    return series


def _plot(axis, series: dict, key: str, label: str, **style) -> None:
    if key in series:
        steps, values = zip(*series[key], strict=True)
        axis.plot(steps, values, label=label, **style)


def draw(series: dict, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (loss, accuracy, rate) = plt.subplots(1, 3, figsize=(15, 4.2))
    for suffix, name in OBJECTIVES.items():
        style = {"color": loss.plot([], [])[0].get_color()}
        _plot(loss, series, f"train/loss{suffix}", f"train: {name}", alpha=0.45, **style)
        _plot(loss, series, f"val/loss{suffix}", f"validation: {name}", marker="o", **style)
        if suffix:
            _plot(accuracy, series, f"val/acc{suffix}", name, marker="o", **style)
            floor = f"val/acc{suffix}_most_frequent"
            _plot(accuracy, series, floor, f"{name}: most frequent token", linestyle="--", **style)
            text = f"val/acc{suffix}_text"  # the same without the span-end token
            dotted = {"marker": "x", "linestyle": ":", **style}
            _plot(accuracy, series, text, f"{name}: text tokens", **dotted)
            first = f"val/acc{suffix}_first"  # each span's first token, read off its neighbours
            dash_dot = {"marker": "^", "linestyle": "-.", **style}
            _plot(accuracy, series, first, f"{name}: first tokens", **dash_dot)
    _plot(rate, series, "train/lr", "learning rate", color="tab:green")
    for axis, label in ((loss, "loss"), (accuracy, "Part-B top-1 accuracy"), (rate, "lr")):
        axis.set_xlabel("iteration")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:  # below the axes: the curves stay visible
            axis.legend(
                fontsize=7, ncol=2, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2)
            )
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return out


def _image_formats() -> dict[str, str]:
    from matplotlib.backend_bases import FigureCanvasBase  # imported only when drawing

    return FigureCanvasBase.get_supported_filetypes()


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder holding metrics.jsonl")
    parser.add_argument(
        "--out", type=Path, help="the picture (default RUN_DIR/training_curves.png)"
    )
    args = parser.parse_args(argv)
    with exit_on_bad_input("plot_metrics.py"):
        metrics = args.run_dir / "metrics.jsonl"
        out = args.out or args.run_dir / "training_curves.png"
        check_not_an_input(("--out", out), [("the metrics file", metrics)])
        if out.suffix.lower().lstrip(".") not in _image_formats():
            raise ValueError(
                f"--out {out}: matplotlib cannot write {out.suffix or 'a file without suffix'}; "
                "name a .png, .svg or .pdf file"
            )
        out = draw(read_series(metrics), out, args.run_dir.name)
    print(f"training curves: {out}")
    return out


if __name__ == "__main__":
    main()
