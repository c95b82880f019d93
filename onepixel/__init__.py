"""onepixel: a reproduction and toolkit of the one-pixel attack (Su, Vargas, Sakurai 2019).

The package is layered, each layer importing only those below it (checked by import-linter,
``[tool.importlinter]`` in pyproject.toml): :mod:`onepixel.cli` on :mod:`onepixel.publish` on
:mod:`onepixel.study` on :mod:`onepixel.nets` on :mod:`onepixel.engine` on :mod:`onepixel.stats`
and :mod:`onepixel.storage`.
"""
from onepixel.engine.attacks import ATTACKS, Targeted, Untargeted
from onepixel.engine.evaluator import Evaluator
from onepixel.engine.one_pixel import AttackResult, OnePixelAttack
from onepixel.engine.settings import PAPER, DESettings


__all__ = ["OnePixelAttack", "DESettings", "PAPER", "AttackResult", "Evaluator", "ATTACKS", "Targeted", "Untargeted"]
__version__ = "0.1.0"
