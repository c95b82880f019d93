import pytest
import inspect

from onepixel import plan, study


def test_de_settings_are_attack_arguments_and_come_from_the_chapter_settings():
    accepted = inspect.signature(study.attacks).parameters
    assert all(k in accepted for k in study.DE_SETTINGS)
    params = {"popsize": 12, "maxiter": 3, "F": 0.7, "seed": 4, "models": ["allconv"], "device": "cpu"}
    assert study.de_settings(params) == {"popsize": 12, "maxiter": 3, "F": 0.7, "seed": 4, "device": "cpu"}


def test_every_profile_gives_the_attack_chapter_all_de_settings():
    for profile in ("smoke", "cpu", "paper"):
        assert set(study.de_settings(plan.settings(profile, "02_attacks"))) == set(study.DE_SETTINGS)


def test_replay_applies_each_images_perturbation_and_counts_fooled_only_when_clean_is_right(planted, grey_images):
    """A transfer replays stored perturbations: the planted red pixel flips the planted model, another does not."""
    import torch

    from onepixel.data import ImageDataset
    from onepixel.experiments import replay

    images = (grey_images * 255).round().to(torch.uint8)
    data = ImageDataset(images, torch.tensor([0, 0, 1]), ["a", "b", "c"], torch.tensor([10, 11, 12]), "toy", "toy")
    rows = replay(planted, data, [[[5, 7, 255, 0, 0]], [[1, 1, 255, 0, 0]], [[5, 7, 255, 0, 0]]], device="cpu")
    assert rows.image.tolist() == [10, 11, 12]
    assert rows.adv_class.tolist() == [1, 0, 1]
    assert rows.clean_correct.tolist() == [True, True, False]  # the model says 0 for every grey image
    assert rows.fooled.tolist() == [True, False, False]


def test_a_transfer_job_is_named_by_its_source_attack():
    from onepixel.experiments import Job, experiments
    from onepixel.study import de_job

    source = de_job("nin", 500)
    job = Job.make("transfer", "vgg16", fooled_by=source)
    assert job.name == "transfer-1px-untargeted" and job.depends_on == (source,)
    assert job.label() == "transfer-1px-untargeted vgg16 (fooled by nin 500)"
    identity = experiments(job, "results", "cpu")[0].identity
    assert identity["model"] == "vgg16" and identity["source"] == experiments(source, "results", "cpu")[0].identity
    with pytest.raises(ValueError, match="replays the perturbations of a DE job"):
        Job.make("transfer", "vgg16")
