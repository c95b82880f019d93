"""Author-year labels in the bibliography ("Su et al. 2019"), matching the author-year citations in
the text (``bibtex_reference_style: author_year``); entries sorted by author, year and title."""
from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle


def _surname(person) -> str:
    return " ".join(person.last_names).replace("{", "").replace("}", "")


def author_year(entry) -> str:
    """"Krizhevsky 2009", "Vargas and Su 2020", "Su et al. 2019" (a trailing "others" counts as more authors)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_surname(p) for p in people]
    year = entry.fields.get("year", "n.d.")
    if not names:
        return f"{entry.key} {year}"
    if len(names) == 2 and names[1] != "others":
        return f"{names[0]} and {names[1]} {year}"
    return f"{names[0]}{' et al.' if len(names) > 1 else ''} {year}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(PlainStyle):
    default_label_style = "author_year"
    default_sorting_style = "author_year_title"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle, force=True)
    return {"parallel_read_safe": True}
