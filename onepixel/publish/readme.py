"""The README's headline section, regenerated from stored results by ``onepixel readme``."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from onepixel.nets.models import model_and_data, network
from onepixel.publish import plots, training
from onepixel.publish.report import most_confident
from onepixel.stats import comparison, metrics, paper
from onepixel.stats.metrics import Runs
from onepixel.storage import REPO
from onepixel.study.chapters import summary_runs
from onepixel.study.rows import page
from onepixel.study.store import stamp


def headline(runs: dict[str, Runs]) -> pd.DataFrame:
    """The README's table: one-pixel success per network, ours (95% interval, n) next to the paper's
    Table VIII (original CIFAR-10 test set) or Table IV (ImageNet, AlexNet)."""
    rows = []
    for name, run in runs.items():
        ref = paper.ORIGINAL_TEST_SET.get(name) or paper.kaggle(name)
        u, t = run.untargeted, run.targeted
        rows.append({"network": name, "accuracy %": f"{100 * run.accuracy:.1f}",
                     "non-targeted % (ours)": metrics.percent(metrics.rate(u.success)) if u is not None else "-",
                     "non-targeted % (paper)": ref.get("untargeted", "-"),
                     "targeted % (ours)": metrics.percent(metrics.targeted_rate(t)) if t is not None else "-",
                     "targeted % (paper)": ref.get("targeted") or "-",
                     "confidence % (ours)": f"{100 * metrics.confidence(u):.1f}" if u is not None and u.success.any()
                     else "-",
                     "confidence % (paper)": ref.get("confidence", "-")})
    return pd.DataFrame(rows)


def replace_block(text: str, name: str, content: str) -> str:
    """Replace what lies between ``<!-- name -->`` and ``<!-- /name -->`` in ``text``."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start not in text or end not in text:
        raise ValueError(f"markers {start} ... {end} not found")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{content.strip()}\n{end}{rest.split(end, 1)[1]}"


def gallery(runs: dict[str, Runs], dataset: str, per_model: int):
    """The most confident successful non-targeted attacks on ``dataset``'s networks, one column each
    with the network named (None when none succeeded)."""

    best = [most_confident(run.untargeted, per_model).assign(model=name)
            for name, run in runs.items() if network(name).dataset == dataset and run.untargeted is not None]
    best = pd.concat(best, ignore_index=True) if best else pd.DataFrame()
    if not len(best):
        return None
    data = model_and_data(best.model.iloc[0])[1]
    return plots.gallery(best, data.subset(best.image.tolist()), data.classes, columns=len(best), name_networks=True)


def write_readme(profile: str, readme: Path = REPO / "README.md", figures: Path = REPO / "book" / "_static",
                 per_model: int = 2) -> pd.DataFrame:
    """Put the headline table of ``profile``'s one-pixel runs (as chapter 00 runs them) into the
    README between ``<!-- headline -->`` markers, with chapter 00's verdict on the paper's values
    (:func:`onepixel.stats.comparison.verdict`), the edition it shows (commit and CPU hours of the store,
    :func:`onepixel.study.store.stamp`) and galleries of its most confident successful
    attacks on the CIFAR-10 and the ImageNet networks (saved under ``figures``); once a trained
    variant is attacked beside its control, chapter 01's sentence on how much the training decides."""
    runs, few, random = summary_runs(page(profile, "00_summary"))
    trained = training.measured(page(profile, "01_networks"))
    table, record = headline(runs), stamp(profile)
    plots.style()
    images = []
    for dataset, suffix in (("cifar10", ""), ("imagenet", "-imagenet")):
        fig = gallery(runs, dataset, per_model)
        path = figures / f"readme-gallery{suffix}.png"
        if fig is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        images.append(f"![Most confident one-pixel attacks, {'ImageNet' if suffix else 'CIFAR-10'}]"
                      f"({path.relative_to(REPO) if path.is_relative_to(REPO) else path})")
    variants = (f"How much the training decides (chapter 01, network variants retrained with one setting changed, "
                f"attacked on the same images as their control): {training.sentence(trained)}\n\n"
                if training.de_differences(trained) else "")
    body = (f"{table.to_markdown(index=False)}\n\n{comparison.verdict(comparison.paper_summary(runs, few, random))}\n\n"
            + variants + "\n\n".join(images) + "\n\n"
            f"Profile `{profile}`: one pixel, the paper's DE settings; rates with 95% Wilson intervals and "
            f"denominators (targeted: n image-target pairs, the interval on the number of images, since an image's 9 targets succeed together; chosen by the simulation in the book's chapter 00). Paper values: Table VIII (original CIFAR-10 test set) and Table IV (ImageNet, AlexNet "
            f"for our SqueezeNet stand-in). From the results stored at commit {record['commit']} "
            f"({record['cpu_hours']:.1f} CPU hours), {record['built']}; regenerate with "
            f"`onepixel readme --profile {profile}`.")
    text = readme.read_text()
    if "<!-- headline -->" not in text:  # first run: add the section before the set-up instructions
        text = text.replace("## Set up and use", "## Headline results\n\n<!-- headline -->\n<!-- /headline -->\n\n"
                            "## Set up and use", 1)
    readme.write_text(replace_block(text, "headline", body))
    return table
