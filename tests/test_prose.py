"""The notebooks' prose states no hand-typed result: every number in a markdown cell is a named
constant (the paper's reported values and settings, facts of the data and the networks, the
confidence level), a reference (a table, figure, chapter or section), or small counting words.
Numbers that come from results are glued in by code cells."""
import json
import re
from pathlib import Path

from onepixel.engine.settings import PAPER
from onepixel.stats import paper


NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.{`$/-])\d[\d,]*(?:\.\d+)?(?![\w`}])")
REFERENCE = re.compile(r"(?:Table|Tables|Fig\.|Figure|Figures|chapter|Chapter|Section|v|arXiv|Python|SqueezeNet|ResNet-\(6n\+)\s*$")


def _paper_values() -> set[str]:
    values = set()

    def walk(obj):
        if isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
            values.update({f"{obj:g}", f"{obj:,g}", f"{obj:.2f}", f"{obj:,}"})
    for name in dir(paper):
        if name.isupper():
            walk(getattr(paper, name))
    return values


# Named constants prose may state: the paper's reported values and DE settings, facts of the data
# and networks, the confidence level of every interval.
ALLOWED = _paper_values() | {
    f"{PAPER.popsize}", f"{PAPER.maxiter}", f"{PAPER.F:g}", f"{100 * PAPER.target_threshold:g}",
    f"{100 * PAPER.true_threshold:g}",                    # the paper's DE settings
    "95",                                                   # the confidence level of every interval
    "32", "227", "224", "1,024", "10,000", "1,300", "255",   # image sides, pixels, test-set sizes, colour range
    "128", "127",                                           # the paper's colour initialisation N(128, 127)
    "20", "44", "56",                                       # ResNet depths (names)
    "1.0",                                                  # SqueezeNet 1.0 (a name)
} | {str(i) for i in range(11)}                            # counting words: 9 targets, 8 corners, 3 pixels


def prose(cell: dict) -> str:
    text = "".join(cell["source"])
    for pattern in (r"```.*?```", r"`[^`]*`", r"\$[^$]*\$", r"\{[a-z:]+\}`[^`]*`", r"\]\([^)]*\)"):
        text = re.sub(pattern, " ", text, flags=re.S)
    return text


def hand_typed(text: str) -> list[str]:
    found = []
    for m in NUMBER.finditer(text):
        number = m.group(0).rstrip(",")
        if number in ALLOWED or REFERENCE.search(text[:m.start()]):
            continue
        found.append(f"{number} in '...{text[max(0, m.start() - 40):m.end() + 20]}...'".replace("\n", " "))
    return found


def test_no_hand_typed_number_in_the_notebooks_prose():
    problems = [f"{nb.name}: {p}" for nb in NOTEBOOKS for cell in json.loads(nb.read_text())["cells"]
                if cell["cell_type"] == "markdown" for p in hand_typed(prose(cell))]
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_typed_result_and_allows_named_constants():
    assert hand_typed("NiN is fooled on 28.2% of images") == ["28.2 in '...NiN is fooled on 28.2% of images...'"]
    assert hand_typed("the paper's Table VIII reports 35.2 with a population of 400 and 9 targets") == []
