"""Network variants: planned only once trained, attacked on the published network's images, each
compared with its control (one training setting apart) and with the paper."""
import pandas as pd
import pytest

from onepixel.nets import models
from onepixel.publish import training
from onepixel.study import chapters, rows
from onepixel.study.jobs import Job

from .conftest import shared_or_skip


def test_each_variant_is_compared_with_the_network_one_setting_away():
    assert models.control("allconv_seed1") == "allconv" and models.control("vgg16_ls0") == "vgg16"
    assert all(len(models.network(name).recipe) == 1 for name in models.VARIANTS), "one setting changed"
    with pytest.raises(ValueError, match="allconv is a published network"):
        models.control("allconv")


def test_only_trained_variants_are_planned_on_the_published_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "WEIGHTS_DIR", tmp_path)
    (tmp_path / "allconv_ls0.pt").write_bytes(b"")
    s = {**chapters.COMMON, **chapters.DE, "n_exhaustive": {"allconv": 500, "vgg16": 200},
         "variant_n_untargeted": {"allconv": 100, "vgg16": 50}}
    jobs = chapters.variants(s, ["allconv_ls0", "vgg16_ls0"])
    assert ("variant exhaustive", "vgg16_ls0") not in jobs, "not trained: nothing planned"
    published = Job.make("exhaustive", "allconv", 500, levels=2)
    assert jobs[("variant exhaustive", "allconv_ls0")] == Job.make("exhaustive", "allconv_ls0", among=published,
                                                                     levels=2)
    de = jobs[("variant untargeted", "allconv_ls0")]
    assert (de.n, de.among) == (100, published)
    assert de.label() == "de-1px-untargeted allconv_ls0 (100 of allconv 500)"
    assert de.depends_on == (Job.make("predictions", "allconv_ls0"), Job.make("predictions", "allconv"))
    assert jobs[("untargeted", "allconv", 1)].n == 500 and ("exhaustive", "allconv") in jobs
    with pytest.raises(ValueError, match="`among` takes the images of another job's sample"):
        Job.make("de", "allconv_ls0", 10, images=[1, 2], among=published)


def test_a_job_among_another_sample_takes_the_images_its_network_also_gets_right(tmp_path, monkeypatch):
    shared_or_skip("models")
    from onepixel.nets.models import test_data
    from onepixel.study.experiments import entries

    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path))
    cost = {"wall_seconds": 0.0, "cpu_seconds": 0.0}
    for model, right in (("resnet20", lambda i: i % 2 == 0), ("resnet32", lambda i: i % 3 != 0)):
        n = len(test_data(model))
        frame = pd.DataFrame({"image": range(n), "label": 0, "pred": [0 if right(i) else 1 for i in range(n)],
                              "prob": 1.0, "true_prob": 1.0})
        entries(Job.make("predictions", model), tmp_path, "p")[0].append(frame, cost)
    published = Job.make("exhaustive", "resnet20", 40, levels=2)
    sample = rows.sample_order("p", "resnet20")[:40]
    kept = [i for i in sample if i % 3 != 0]
    first = Job.make("de", "resnet32", 10, among=published)
    assert rows.job_images("p", first, compute=False) == sorted(kept[:10])
    assert rows.in_sample_order("p", first, sorted(kept[:10])) == kept[:10], "computed in the sample's order"
    every = Job.make("exhaustive", "resnet32", among=published, levels=2)
    assert rows.job_images("p", every, compute=False) == sorted(kept)


def _de(images, successes, adv=0.6, generations=100):
    return pd.DataFrame({"image": images, "success": [i in successes for i in images], "adv_prob": adv,
                         "generations": generations, "evaluations": 40_402})


def _exhaustive(images, successes):
    return pd.DataFrame([{"image": i, "target": t, "success": i in successes and t == 0}
                         for i in images for t in range(9)])


def _network(de, ex, right=90):
    return {"predictions": pd.DataFrame({"pred": [0] * 100, "label": [0] * right + [1] * (100 - right),
                                         "prob": [0.99] * (right // 2) + [0.9] * (100 - right // 2)}),
            "de": de, "exhaustive": ex}


def test_variants_are_paired_with_their_control_and_the_gap_to_the_paper_is_stated():
    images = list(range(100))
    data = {"allconv": _network(_de(images, range(10)), _exhaustive(images, range(10))),
            "allconv_ls0": _network(_de(images[:40], range(20), adv=[0.6 + i / 100 for i in range(40)], generations=12),
                                    _exhaustive(images[:80], range(20))),
            "allconv_seed1": _network(_de(images[:40], range(10)), _exhaustive(images, range(10)))}
    diffs = training.differences(data)
    assert diffs["allconv_ls0"]["de"]["diff"] == pytest.approx(0.25) and diffs["allconv_ls0"]["de"]["n"] == 40
    assert diffs["allconv_ls0"]["exhaustive"]["n"] == 80, "on the images both attacked"
    assert diffs["allconv_seed1"]["de"]["n"] == 40 and diffs["allconv_seed1"]["de"]["diff"] == 0
    table = training.variant_table(data, maxiter=100)
    assert training.EXHAUSTIVE_COLUMNS + training.DE_COLUMNS == table.columns.tolist(), "the two tables show it all"
    assert table.loc["allconv_ls0", "control"] == "allconv"
    assert table.loc["allconv_ls0", "change"] == "label smoothing 0.0"
    assert table.loc["allconv_ls0", "early stops %"] == 100.0 and table.loc["allconv", "early stops %"] == 0.0
    assert table.loc["allconv", "exhaustive - control, points"] == "-" and table.loc["allconv", "accuracy %"] == 90.0
    paired = training.paired_de_table(data, maxiter=100)
    assert paired.index.tolist() == ["allconv_ls0", "allconv_seed1"]
    assert paired.loc["allconv_ls0", "DE success - control"].startswith("+25.0 [")
    assert paired.loc["allconv_ls0", "early stops - control"].startswith("+100.0 [") and \
        paired.loc["allconv_ls0", "early stops - control"].endswith("(n=40)"), "12 generations against 100"
    assert paired.loc["allconv_ls0", "confidence - control (both fooled)"] == "+4.5 [+2.3, +6.7] (n=10)", \
        "0 to 9 points higher on the 10 images both fooled"
    assert paired.loc["allconv_seed1", "early stops - control"].startswith("+0.0 [")
    assert table.loc["allconv", "top probability > 95%"] == "50.0%", "45 of the 90 correct images"
    text = training.sentence(data)
    assert text.startswith("AllConv: our non-targeted success 10.0% against the paper's 22.6%, a gap of -12.6 points.")
    assert "label smoothing 0.0 +25.0 points [+10.3, +38.0] on 40 images, toward the paper's value" in text
    assert "A change of seed alone moves the rate by less than the gap (at most 0.0 points)" in text
    assert "a change of recipe moves it toward the paper by as much as the gap (at most 25.0 points)" in text
    assert training.sentence({}) == "No variant is trained and attacked yet."
    training.figure(data)
    at_paper = {**data, "allconv": _network(_de(images[:500], range(23)), _exhaustive(images, range(30)))}
    at_paper["allconv"]["de"] = _de(list(range(500)), range(113))  # 22.6%, the paper's rate
    text = training.sentence(at_paper)
    assert "a gap of +0.0 points" in text and "toward" not in text and "away from" not in text
    assert "A change of seed alone moves the rate by at most" in text and "a change of recipe moves the rate by at most" in text


def test_a_trained_variant_with_nothing_stored_yet_is_left_out():
    from types import SimpleNamespace

    from onepixel.study.chapters import Page

    images = list(range(10))
    full = _network(_de(images, range(3)), _exhaustive(images, range(3)))
    rows = {("predictions", "allconv"): full["predictions"], ("exhaustive", "allconv"): full["exhaustive"],
            ("untargeted", "allconv", 1): full["de"],
            ("predictions", "allconv_ls0"): full["predictions"], ("variant exhaustive", "allconv_ls0"): full["exhaustive"],
            ("variant untargeted", "allconv_ls0"): full["de"],
            ("predictions", "allconv_seed1"): pd.DataFrame(), ("variant exhaustive", "allconv_seed1"): pd.DataFrame(),
            ("variant untargeted", "allconv_seed1"): pd.DataFrame()}
    page = Page("01_networks", {}, dict.fromkeys(rows, SimpleNamespace()), rows, {})
    data = training.measured(page)
    assert list(data) == ["allconv", "allconv_ls0"]
    assert training.variant_table(data, maxiter=100).index.tolist() == ["allconv", "allconv_ls0"]
    rows[("predictions", "allconv_seed1")] = full["predictions"]
    rows[("variant exhaustive", "allconv_seed1")] = _exhaustive(images[:6], range(2))
    page = Page("01_networks", {}, dict.fromkeys(rows, SimpleNamespace()), rows, {})
    data = training.measured(page)
    assert list(data) == ["allconv", "allconv_ls0", "allconv_seed1"], "its exhaustive search alone puts a variant in"
    table = training.variant_table(data, maxiter=100)
    assert table.loc["allconv_seed1", "exhaustive - control, points"].endswith("(n=6)")
    assert table.loc["allconv_seed1", "DE %"] == "-"
    assert "allconv_seed1" not in training.paired_de_table(data, maxiter=100).index
    assert "de" not in training.differences(data)["allconv_seed1"]
    assert list(training.de_differences(data)) == ["allconv_ls0"], "what the README's variant line rests on"
    rows = {k: v for k, v in rows.items() if "ls0" not in str(k)} | {
        ("variant exhaustive", "allconv_seed1"): pd.DataFrame(), ("variant untargeted", "allconv_seed1"): pd.DataFrame(),
        ("predictions", "allconv_seed1"): pd.DataFrame()}
    assert training.measured(Page("01_networks", {}, dict.fromkeys(rows, SimpleNamespace()), rows, {})) == {}


def test_the_findings_of_chapter_01_come_from_its_tables():
    clean = pd.DataFrame({"top probability > 95%": ["39.7%", "0.0%", "93.1%"]}, index=["allconv", "vgg16", "resnet20"])
    text = training.findings(clean, {}, maxiter=100).split("\n")
    assert text[0].endswith("exceeds 95%: allconv 39.7%, vgg16 0.0% (trained here); resnet20 93.1% (weights from elsewhere).")
    assert text[1] == "- Training: No variant is trained and attacked yet."
    images = list(range(10))
    data = {"allconv": _network(_de(images, range(3)), _exhaustive(images, range(3))),
            "allconv_ls0": _network(pd.DataFrame(), _exhaustive(images, range(3)), right=100)}
    data["allconv_ls0"]["predictions"]["prob"] = [0.99] * 80 + [0.9] * 20
    text = training.findings(clean, data, maxiter=100).split("\n")
    assert text[1] == ("- The same share for each variant against its control: allconv_ls0 (label smoothing 0.0) 80.0% "
                       "against allconv 50.0%."), "80 of 100 and 45 of 90 correct images above 0.95"
    assert text[2] == ("- Exhaustive one-pixel success, each variant minus its control on the images both searched (points, "
                       "95% interval): allconv_ls0 (label smoothing 0.0) +0.0 [-20.0, +20.0] (n=10) against allconv, "
                       "an interval that contains zero.")
    assert text[3].startswith("- Training: No variant's DE attack shares more than one image with its control's yet")


def test_the_spread_between_seeds_is_measured_on_the_images_every_seed_attacked():
    images = list(range(100))
    data = {"allconv": _network(_de(images, range(10)), _exhaustive(images, range(10))),
            "allconv_ls0": _network(_de(images[:40], range(20)), _exhaustive(images, range(20))),
            "allconv_seed1": _network(_de(images[:40], range(10)), _exhaustive(images[:80], range(12))),
            "allconv_seed2": _network(_de(images[:30], range(5)), _exhaustive(images, range(10)))}
    spread = training.seed_spread(data)
    row = spread.loc["allconv"]
    assert row["seeds"] == "0, 1, 2", "the label-smoothing variant is not a seed"
    assert row["DE images"] == 30 and row["DE % by seed"] == "33.3, 33.3, 16.7" and row["DE spread, points"] == 16.7
    assert row["exhaustive images"] == 80 and row["exhaustive % by seed"] == "12.5, 15.0, 12.5"
    assert row["published - paper, points"] == 10.7, "33.3% on the same 30 images against the paper's 22.6%"
    assert training.spread_sentence(spread) == ("AllConv seeds 0, 1, 2: DE success 33.3, 33.3, 16.7% on the same 30 "
                                                 "images, a spread of 16.7 points; on them the published network is "
                                                 "+10.7 points from the paper's value.")
    one = {**data, "allconv_seed2": _network(_de([0], []), _exhaustive(images, range(10)))}
    assert training.seed_spread(one).empty, "a single image shared by every seed makes no spread"
    without = {k: v for k, v in data.items() if "seed" not in k}
    assert training.seed_spread(without).empty and training.spread_sentence(training.seed_spread(without)) == ""
    text = training.findings(pd.DataFrame({"top probability > 95%": []}), data, 100)
    assert "- Seeds: AllConv seeds 0, 1, 2" in text
    assert ("- DE on the same images, each variant minus its control (points, 95% interval): allconv_ls0 (label "
            "smoothing 0.0): confidence where both fooled +0.0 [+0.0, +0.0] (n=10), early stops +0.0 [") in text


def test_a_control_without_de_rows_and_a_mean_of_too_few_pairs():
    images = list(range(20))
    data = {"allconv": _network(pd.DataFrame(), _exhaustive(images, range(4))),
            "allconv_ls0": _network(_de(images, range(5)), _exhaustive(images, range(5)))}
    assert list(training.differences(data)["allconv_ls0"]) == ["exhaustive"], "no DE to pair with"
    assert training.de_differences(data) == {} and training.paired_de_table(data, maxiter=100).empty
    assert training.seed_spread(data).empty
    assert training.sentence(data).startswith("No variant's DE attack shares more than one image")
    few = {"allconv": _network(_de(images, range(3)), _exhaustive(images, range(4))),
           "allconv_ls0": _network(_de(images, range(5), adv=0.7), _exhaustive(images, range(5)))}
    paired = training.paired_de_table(few, maxiter=100)
    assert paired.loc["allconv_ls0", "confidence - control (both fooled)"] == "+10.0 (n=3, too few for an interval)"
