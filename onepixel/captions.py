"""Numbered, captioned tables for the book's pages, readable in Jupyter too.

``captions.table(frame, "Caption.", "tab-name")`` shows a DataFrame as a MyST ``{table}`` directive
(a numbered "Table N" that ``{numref}`tab-name``` can cite; the book renders text/markdown outputs
as MyST, preferring them to HTML) and as an HTML table under its caption in Jupyter. Cells are
written for readers: integers as integers, one number of decimals per column (3 significant
digits, at most 2 decimals), missing values as a dash, yes/no for booleans.
Figures are captioned by their cell's ``mystnb.figure`` metadata (caption and name).
"""
from __future__ import annotations

import html
import math
from numbers import Integral, Real

import pandas as pd


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def decimals(values) -> int:
    """Decimals a column of numbers needs to show each value to 3 significant digits, at most 2
    (0: all whole numbers; values below 0.001 are written in scientific notation instead)."""
    need = 0
    for v in values:
        if isinstance(v, Real) and not isinstance(v, (bool, Integral)) and not _missing(v):
            v = abs(float(v))
            if v >= 1e-3 and not v.is_integer():
                need = max(need, min(2, 2 - math.floor(math.log10(v))))
    return need


def cell(value, places: int = 3) -> str:
    """One value as a reader should see it (numbers with ``places`` decimals)."""
    if _missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        value = float(value)
        if 0 < abs(value) < 1e-3:
            return f"{value:.2g}"
        return f"{value:.{places}f}"
    return str(value)


class Table:
    """A DataFrame with a caption and a name (see the module docstring)."""

    def __init__(self, frame: pd.DataFrame, caption: str, name: str):
        if not name.startswith("tab-"):
            raise ValueError(f"table names start with 'tab-' (so that references read as tables), got {name!r}")
        frame = frame.copy()
        if isinstance(frame.columns, pd.MultiIndex):
            frame.columns = [" ".join(str(c) for c in col if str(c)) for col in frame.columns]
        if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
            names = [n if n is not None else "" for n in frame.index.names]
            frame = frame.set_axis(frame.index.set_names(names)).reset_index()
        self.frame = frame
        self.caption, self.name = " ".join(caption.split()), name

    def rows(self) -> list[list[str]]:
        """The cells as text, each numeric column with one number of decimals."""
        places = [decimals(self.frame.iloc[:, j]) for j in range(self.frame.shape[1])]
        return [[cell(v, p) for v, p in zip(row, places)] for row in self.frame.itertuples(index=False)]

    def _repr_markdown_(self) -> str:
        def line(values) -> str:
            return "| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in values) + " |"
        body = [line(self.frame.columns), line(["---"] * self.frame.shape[1]), *map(line, self.rows())]
        return "\n".join([f":::{{table}} {self.caption}", f":name: {self.name}", "", *body, ":::"])

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.frame.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in self.rows())
        return (f"<table><caption>{html.escape(self.caption)}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        return f"{self.caption}\n{self.frame.to_string(index=False)}"


def table(frame: pd.DataFrame, caption: str, name: str) -> Table:
    """``frame`` as a numbered table with ``caption``, citable as ``{numref}`name```."""
    return Table(frame, caption, name)
