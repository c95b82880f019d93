"""Author-year labels in the bibliography ("Su et al. 2019"), matching the author-year citations in
the text (``bibtex_reference_style: author_year``); entries sorted as their labels read: first
author, then one, two or more authors, then year and title."""
from __future__ import annotations

from pybtex.plugin import register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle


def _surname(person) -> str:
    return " ".join(person.last_names).replace("{", "").replace("}", "")


def _names(entry) -> list[str]:
    return [_surname(p) for p in entry.persons.get("author") or entry.persons.get("editor") or []]


def author_year(entry) -> str:
    """"Krizhevsky 2009", "Vargas and Su 2020", "Su et al. 2019" (a trailing "others" counts as more authors)."""
    names, year = _names(entry), entry.fields.get("year", "n.d.")
    if not names:
        return f"{entry.key} {year}"
    if len(names) == 2 and names[1] != "others":
        return f"{names[0]} and {names[1]} {year}"
    return f"{names[0]}{' et al.' if len(names) > 1 else ''} {year}"


def label_order(entry) -> tuple:
    """The order in which the labels read: first author, one / two / more authors, second author of
    two, year, title (case ignored)."""
    names = [n.lower() for n in _names(entry)]
    two = len(names) == 2 and names[1] != "others"
    return (names[0] if names else entry.key.lower(), 0 if len(names) == 1 else 1 if two else 2,
            names[1] if two else "", entry.fields.get("year", ""), entry.fields.get("title", "").lower())


class LabelOrder(BaseSortingStyle):
    def sorting_key(self, entry):
        return label_order(entry)


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(PlainStyle):
    default_label_style = "author_year"
    default_sorting_style = "label_order"


def setup(app):
    register_plugin("pybtex.style.labels", "author_year", AuthorYearLabels, force=True)
    register_plugin("pybtex.style.sorting", "label_order", LabelOrder, force=True)
    register_plugin("pybtex.style.formatting", "author_year", AuthorYearStyle, force=True)
    return {"parallel_read_safe": True}
