"""Figures for the book, in one seaborn style."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import metrics


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7, 3.6)})


def success_bars(runs: dict[str, dict]):
    """Success rates with 95% Wilson intervals per model and attack kind."""
    rows = []
    for name, run in runs.items():
        for kind, df in (("non-targeted", run.get("untargeted")), ("targeted", run.get("targeted"))):
            if df is not None and len(df):
                r = metrics.rate(df.success)
                rows.append({"model": name, "attack": kind, "rate": 100 * r["rate"],
                             "low": 100 * r["ci_low"], "high": 100 * r["ci_high"]})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots()
    sns.barplot(df, x="model", y="rate", hue="attack", ax=ax)
    for bar, (_, row) in zip(ax.patches, df.sort_values(["attack", "model"], key=lambda s: s.map(
            {k: i for i, k in enumerate(df[s.name].unique())})).iterrows()):
        x = bar.get_x() + bar.get_width() / 2
        ax.plot([x, x], [row.low, row.high], color="black", lw=1)
    ax.set_ylabel("success rate (%)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig
