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
