"""The plan: chapters declared with their defaults and experiments; jobs carry what they depend on;
a page reads exactly its chapter's experiments."""
import json
from types import SimpleNamespace

import pytest

from onepixel.engine.settings import DESettings
from onepixel.storage import REPO
from onepixel.study import chapters, plan
from onepixel.study.jobs import Job


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    monkeypatch.setattr(plan, "PROFILES", tmp_path)
    registry = dict(chapters.CHAPTERS)
    monkeypatch.setattr(chapters, "CHAPTERS", registry)
    monkeypatch.setattr(plan, "CHAPTERS", registry)
    return tmp_path


def test_every_chapter_notebook_is_declared():
    notebooks = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(chapters.CHAPTERS) == notebooks


def test_a_declared_chapter_is_planned_and_its_settings_checked(profiles):
    @chapters.chapter("10_new", models=["allconv"], n_untargeted=5, maxiter=7)
    def _new(s):
        return {("untargeted", m): Job.make("de", m, s["n_untargeted"], maxiter=s["maxiter"]) for m in s["models"]}

    (profiles / "p.yaml").write_text("chapters: [10_new]\n10_new: {n_untargeted: 3}\n")
    labels = [job.label() for job in plan.jobs("p")]
    assert labels == ["predictions allconv", "de-1px-untargeted allconv [maxiter 7] (3)"]
    (profiles / "bad.yaml").write_text("10_new: {n_targeted: 3}\n")
    with pytest.raises(ValueError, match="chapter 10_new has no setting 'n_targeted'"):
        plan.load("bad")


def test_jobs_name_what_they_depend_on():
    cube = Job.make("cube", "nin", 4, seed=2, levels=16)
    assert cube.depends_on == (Job.make("predictions", "nin"), Job.make("exhaustive", "nin", 4, seed=2, levels=2))
    source = Job.make("de", "allconv", 10, true_threshold=0.05)
    early = Job.make("de", "allconv", fooled_by=source, stop_on_flip=True)
    assert early.depends_on == (source,) and source.depends_on == (Job.make("predictions", "allconv"),)
    assert Job.make("de", "allconv", images=[3, 1]).depends_on == ()


def test_a_dependency_no_chapter_lists_is_planned_before_its_job(profiles):
    @chapters.chapter("10_cube", n_cube=3)
    def _cube(s):
        return {("cube",): Job.make("cube", "allconv", s["n_cube"], levels=4)}

    (profiles / "p.yaml").write_text("chapters: [10_cube]\n")
    assert [job.label() for job in plan.jobs("p")] == ["predictions allconv", "exhaustive-2 allconv (3)",
                                                        "cube-4 allconv (3)"]


def test_priority_patterns_take_brackets_literally():
    assert plan.matches("de-1px-untargeted allconv [bounds redraw] (100)", "de-1px-untargeted allconv [bounds redraw] *")
    assert not plan.matches("de-1px-untargeted allconv (500)", "de-1px-untargeted allconv [bounds redraw] *")
    assert plan.matches("de-3px-untargeted nin (32)", "de-?px-untargeted *")


def test_the_cpu_plan_computes_the_bounds_ablation_right_after_the_exhaustive_search():
    labels = [job.label() for job in plan.jobs("cpu") if job.kind != "predictions"]
    first = [label for label in labels if not label.startswith("exhaustive")][0]
    assert first == "de-1px-untargeted allconv [bounds redraw] (100)"


def test_the_largest_sample_of_an_experiment_covers_the_smaller_ones():
    small, large = Job.make("de", "nin", 4), Job.make("de", "nin", 24)
    other = Job.make("de", "nin", 8, pixels=3)
    assert plan.largest([small, other, large, small]) == [large, other]
    assert small.key == large.key != other.key


def test_jobs_of_one_priority_rank_take_turns_shard_by_shard(profiles, monkeypatch):
    from onepixel.study import rows, runner

    (profiles / "p.yaml").write_text(
        "chapters: [02_attacks]\n"
        "02_attacks: {models: [allconv, nin], targeted_models: [], n_untargeted: 24, depth_models: [resnet20],\n"
        "             n_depth: 16, early_stop_images: 0, bounds_images: 0, transfer_sources: []}\n"
        "priority: [[\"de-1px-untargeted allconv *\", \"de-1px-untargeted nin *\"], \"de-1px-untargeted resnet20 *\"]\n")
    monkeypatch.setattr(rows, "missing_images", lambda profile, job, compute=True: list(range(job.n or 0)))
    monkeypatch.setattr(rows, "in_sample_order", lambda profile, job, images: images)
    pieces, waiting = runner.pending("p", set())
    order = [(p.job.model, p.images[0]) for p in pieces if p.job.kind == "de"]
    assert order == [("allconv", 0), ("nin", 0), ("allconv", 8), ("nin", 8), ("allconv", 16), ("nin", 16),
                     ("resnet20", 0), ("resnet20", 8)] and waiting == 0
    assert plan.priority(plan.load("p"))(Job.make("de", "vgg16", 4)) == 2  # no entry matches: last


def test_a_priority_entry_is_a_pattern_or_a_list_of_patterns(profiles):
    (profiles / "p.yaml").write_text("priority: [[]]\n")
    with pytest.raises(ValueError, match="a priority entry is a pattern or a list of patterns"):
        plan.load("p")


def test_headline_jobs_are_chapter_02s_one_pixel_non_targeted_attacks(profiles):
    (profiles / "p.yaml").write_text("common: {n_untargeted: 6}\n"
                                     "02_attacks: {models: [allconv, squeezenet1_0], n_untargeted_imagenet: 2}\n")
    assert [job.label() for job in plan.headline_jobs("p")] == ["de-1px-untargeted allconv (6)",
                                                                 "de-1px-untargeted squeezenet1_0 (2)"]
    assert {job.key for job in plan.headline_jobs("p")} <= {job.key for job in plan.jobs("p")}
    (profiles / "q.yaml").write_text("chapters: [06_gallery]\n")
    assert plan.headline_jobs("q") == []


def test_bad_de_settings_in_a_profile_fail_naming_the_setting(profiles):
    (profiles / "p.yaml").write_text("common: {popsize: 2}\n")
    with pytest.raises(ValueError, match="p.yaml, 00_summary: popsize must be >= 4"):
        plan.load("p")
    (profiles / "q.yaml").write_text("03_few_pixels: {F: fast}\n")
    with pytest.raises(ValueError, match="DE setting F must be a number, got 'fast'"):
        plan.load("q")


def test_a_page_reads_exactly_the_experiments_its_chapter_plans(profiles, monkeypatch):
    from onepixel.study import rows

    (profiles / "p.yaml").write_text("chapters: [03_few_pixels]\n03_few_pixels: {settings_list: [[nin, 3]], n_targeted: 0,\n"
                                     "                n_untargeted: 4, popsize: 20}\n")
    read = []
    monkeypatch.setattr(rows, "job_rows", lambda profile, job, *a, **k: read.append(job) or __import__("pandas").DataFrame())
    page = rows.page("p", "03_few_pixels")
    assert read == list(page.jobs.values()) and set(page.rows) == set(page.jobs)
    assert page.jobs[("targeted", "nin", 3)].empty and page[("targeted", "nin", 3)].empty, "n_targeted 0: on the page, empty"
    assert page.jobs[("untargeted", "nin", 3)].settings == DESettings(pixels=3, popsize=20)
    assert {j.key for j in read if not j.empty} == {j.key for j in plan.jobs("p")}
    assert page.settings_pairs() == [("nin", 1), ("nin", 3)]
    with pytest.raises(KeyError, match="03_few_pixels plans no experiment .'targeted', 'nin', 4."):
        page[("targeted", "nin", 4)]


def test_notebooks_read_results_only_through_their_page():
    """A chapter's notebook gets its rows from :func:`onepixel.study.rows.page`, and imports no
    module that reads the store; only chapter 08 reads the benchmarks that ``onepixel bench``
    stores on a quiet machine."""
    for nb in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        code = "\n".join("".join(c["source"]) for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        assert f'rows.page(profile, "{nb.stem}", globals())' in code, nb.name
        calls = {line.split("benchmarks.")[1].split("(")[0] for line in code.splitlines() if "benchmarks." in line}
        assert calls <= ({"engine_benchmark", "incremental_benchmark"} if nb.stem == "08_performance" else set()), nb.name



def test_the_cpu_priority_puts_the_network_variants_before_the_few_pixel_and_grown_samples():
    rank = plan.priority(plan.load("cpu"))
    variant = "de-1px-untargeted allconv_ls0 (100 of allconv 500)"
    ranks = {label: rank(SimpleNamespace(label=lambda label=label: label)) for label in
             (variant, "exhaustive-2 allconv_ls0 (allconv 500)", "de-1px-untargeted allconv (500)",
              "de-3px-targeted allconv (20)", "de-1px-targeted allconv (50)", "de-3px-untargeted allconv (100)")}
    assert ranks["exhaustive-2 allconv_ls0 (allconv 500)"] == 0
    assert ranks["de-1px-untargeted allconv (500)"] < ranks[variant] < ranks["de-3px-targeted allconv (20)"]
    assert ranks["de-3px-targeted allconv (20)"] < ranks["de-1px-targeted allconv (50)"] < ranks["de-3px-untargeted allconv (100)"]
