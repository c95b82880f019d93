import inspect

from onepixel import study
from onepixel.book import notebook_parameters


def test_de_settings_are_attack_arguments_and_come_from_the_parameters():
    accepted = inspect.signature(study.attacks).parameters
    assert all(k in accepted for k in study.DE_SETTINGS)
    params = {"popsize": 12, "maxiter": 3, "F": 0.7, "seed": 4, "models": ["allconv"], "device": "cpu"}
    assert study.de_settings(params) == {"popsize": 12, "maxiter": 3, "F": 0.7, "seed": 4, "device": "cpu"}


def test_every_profile_gives_the_attack_notebook_all_de_settings():
    for profile in ("smoke", "cpu", "paper"):
        assert set(study.de_settings(notebook_parameters(profile, "02_attacks"))) == set(study.DE_SETTINGS)
