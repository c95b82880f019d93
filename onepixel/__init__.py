"""onepixel: a reproduction and toolkit of the one-pixel attack (Su, Vargas, Sakurai 2019)."""
from .attack import AttackResult, OnePixelAttack
from .attacks import ATTACKS, Targeted, Untargeted
from .evaluator import Evaluator

__all__ = ["OnePixelAttack", "AttackResult", "Evaluator", "ATTACKS", "Targeted", "Untargeted"]
__version__ = "0.1.0"
