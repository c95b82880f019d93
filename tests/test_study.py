import pytest


def test_replay_applies_each_images_perturbation_and_counts_fooled_only_when_clean_is_right(planted, grey_images):
    """A transfer replays stored perturbations: the planted red pixel flips the planted model, another does not."""
    import torch

    from onepixel.nets.data import ImageDataset
    from onepixel.engine.probes import replay

    images = (grey_images * 255).round().to(torch.uint8)
    data = ImageDataset(images, torch.tensor([0, 0, 1]), ["a", "b", "c"], torch.tensor([10, 11, 12]), "toy", "toy")
    rows = replay(planted, data.float(), data.labels, [[[5, 7, 255, 0, 0]], [[1, 1, 255, 0, 0]], [[5, 7, 255, 0, 0]]],
                  data.index, device="cpu")
    assert rows.image.tolist() == [10, 11, 12]
    assert rows.adv_class.tolist() == [1, 0, 1]
    assert rows.clean_correct.tolist() == [True, True, False]  # the model says 0 for every grey image
    assert rows.fooled.tolist() == [True, False, False]


def test_a_transfer_job_is_named_by_its_source_attack():
    from onepixel.study.experiments import entries
    from onepixel.study.jobs import Job

    source = Job.make("de", "nin", 500)
    job = Job.make("transfer", "vgg16", fooled_by=source)
    assert job.name == "transfer-1px-untargeted" and job.depends_on == (source,)
    assert job.label() == "transfer-1px-untargeted vgg16 (fooled by nin 500)"
    identity = entries(job, "results", "cpu")[0].identity
    assert identity["model"] == "vgg16" and identity["source"] == entries(source, "results", "cpu")[0].identity
    with pytest.raises(ValueError, match="replays the perturbations of a DE job"):
        Job.make("transfer", "vgg16")


def test_transfer_table_counts_only_images_the_target_gets_right():
    import pandas as pd

    from onepixel.publish.report import transfer_matrix, transfer_summary, transfer_table

    rows = pd.DataFrame({"image": [1, 2, 3, 4], "clean_correct": [True, True, True, False],
                         "fooled": [True, False, False, False]})
    table = transfer_table({("a", "b"): rows, ("a", "a"): rows.assign(clean_correct=True, fooled=True)})
    ab = table[table.target == "b"].iloc[0]
    assert (ab["fooled by the source"], ab["target correct on clean"], ab["also fool the target"]) == (4, 3, 1)
    assert ab["rate %"] == 33.3 and ab["ci low %"] < 33.3 < ab["ci high %"]
    assert transfer_matrix(table).loc["a", "b"].endswith("(n=3)")
    text = transfer_summary(table)
    assert text.startswith("Replayed on the network it was found for, every stored perturbation fools it again (4 of 4)")
    assert "from a to b (33% [" in text


def test_training_table_reads_the_published_records_and_plans_the_variants():
    from onepixel.publish.provenance import shared_columns, training_table

    table = training_table(["allconv", "allconv_ls0", "resnet20"])
    assert list(table.index) == ["allconv", "allconv_ls0"], "resnet20 was not trained here"
    assert table.loc["allconv", "label smoothing"] == 0.1 and table.loc["allconv_ls0", "label smoothing"] == 0.0
    assert table.loc["allconv", "trained on"] == "cpu, 2 threads", "its JSON record"
    assert table.loc["allconv_ls0", "trained on"] == "cpu, 1 thread", "its committed record: beside the runner"
    shared, rest = shared_columns(table)
    assert "epochs 12" in shared and "label smoothing" in rest


def test_budget_comparison_pairs_de_with_each_search_on_the_same_images():
    import pandas as pd

    from onepixel.publish.cost import budget_comparison, budget_curves, budget_differences

    de = pd.DataFrame({"image": [1, 2, 3, 4], "success": [True, True, False, False],
                       "first_success_evaluations": [500.0, 3000.0, None, None], "evaluations": [40402] * 4})
    random = pd.DataFrame({"image": [1, 2, 3, 9], "success": [False, True, True, True], "evaluations": [2000, 10, 1500, 5]})
    exhaustive = pd.DataFrame({"image": [1, 1, 2, 3, 4], "success": [True, False, True, True, False], "evaluations": 8192})
    rows = {"m": {"de": de, "random": random, "exhaustive": exhaustive}}
    table = budget_comparison(budget_differences(rows, 2000))
    vs_random = table.loc[("m", "DE vs random")]
    assert vs_random.images == 3 and vs_random["DE %"] == round(100 / 3, 1) and vs_random["other %"] == round(200 / 3, 1)
    vs_exhaustive = table.loc[("m", "DE (all generations) vs exhaustive")]
    assert vs_exhaustive["DE %"] == 50.0 and vs_exhaustive["other %"] == 75.0
    assert vs_exhaustive["DE - other, points"].endswith("(0 only DE, 1 only exhaustive)")
    curves, points = budget_curves(rows, 2000)["m"]
    assert list(points.values()) == [(8192, 0.75)] and "random (n=4)" in curves


def test_the_findings_of_chapter_04_follow_the_paired_intervals():
    import pandas as pd

    from onepixel.publish.cost import findings

    index = pd.MultiIndex.from_tuples([("a", "DE vs random"), ("b", "DE vs random"), ("a", "DE (all generations) vs exhaustive")],
                                      names=["model", "comparison"])
    differences = pd.DataFrame({"budget": ["2,000", "2,000", "each its own"], "images": [100, 50, 100],
                                "diff": [0.05, -0.01, -0.04], "ci_low": [0.01, -0.03, -0.07], "ci_high": [0.09, 0.02, -0.01]},
                               index=index)
    cost = pd.DataFrame({"evaluations, successful": [32000.0, None], "paper: evaluations": [16000, 12400],
                         "stopped early %": [12.5, None],
                         "distortion, successful": [100.0, None], "paper: distortion": [123, 133]}, index=["a", "b"])
    cost_line, random_line, exhaustive_line = findings(cost, differences).split("\n")
    assert "32,000 evaluations on average for a (2.0 times the paper's 16,000; 12.5% of its attacks stopped" in cost_line
    assert "for 0 of 1 networks" in cost_line
    assert random_line == ("- DE against random within 2,000 evaluations: DE fools more images than random (a +5.0 points "
                           "[+1.0, +9.0], n=100); no difference at 95% (b -1.0 points [-3.0, +2.0], n=50).")
    assert exhaustive_line.startswith("- DE (all generations) against exhaustive: DE fools fewer images than exhaustive (a")
    assert findings(cost.iloc[:0], differences.iloc[:0]) == "Nothing is stored for this chapter yet."
