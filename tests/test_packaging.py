import re
import tomllib
from pathlib import Path

import yaml


ROOT = Path(__file__).resolve().parents[1]


def pinned(specs):
    out = {}
    for s in specs:
        name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?)==(\S+)", s.strip()).groups()
        out[name.lower().replace("_", "-")] = version
    return out


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        deps += extra
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pinned(p for p in pip if not p.startswith("-e")) == pinned(deps)
    assert "python=3.11" in env["dependencies"]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.M)
    assert commands[:2] == ["make book", "make test"]
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci = [line for line in lines if line and not line.startswith(("#", "set", "cd"))]
    assert ci == ["make test"]


def test_citation_metadata_agree_with_the_package_and_the_bibliography():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["authors"] and cff["message"]
    assert (cff["version"], cff["license"]) == (project["version"], project["license"])
    book = yaml.safe_load((ROOT / "_config.yml").read_text())
    from onepixel.publish.book import citation
    entry = citation({"profile": "cpu", "built": "2026-12-07", "commit": "abc1234"})
    assert cff["title"] == book["title"] and f"title = {{{cff['title']}}}" in entry
    assert f"version = {{{cff['version']}}}" in entry and "year = {2026}" in entry and "commit abc1234" in entry
    bib = (ROOT / "book" / "references.bib").read_text()
    entry = bib[bib.index("@article{su2019onepixel"):].split("\n}", 1)[0]
    paper = cff["references"][0]
    assert f"doi = {{{paper['doi']}}}" in entry and f"pages = {{{paper['start']}--{paper['end']}}}" in entry
    assert f"title = {{{paper['title']}}}" in entry and f"year = {{{paper['year']}}}" in entry
    authors = re.search(r"author = \{(.*)\},", entry).group(1).split(" and ")
    assert [a["family-names"] for a in paper["authors"]] == [a.split(",")[0] for a in authors]
