"""Numbered, captioned tables for the book's pages, readable in Jupyter too.

``captions.table(frame, "Caption.", "tab-name")`` shows a DataFrame as a MyST ``{table}`` directive
(a numbered "Table N" that ``{numref}`tab-name``` can cite; the book renders text/markdown outputs
as MyST, preferring them to HTML) and as an HTML table under its caption in Jupyter. Cells are
written for readers: integers as integers, one number of decimals per column (3 significant
digits, at most 2 decimals; per row for a table whose rows are measures, ``decimals_by="row"``),
missing values as a dash, yes/no for booleans.
Figures are captioned by their cell's ``mystnb.figure`` metadata (caption and name).
"""
from __future__ import annotations

import base64
import io
import math
from html import escape
from numbers import Integral, Real
from typing import Literal

import matplotlib.pyplot as plt
from matplotlib.text import Text
import pandas as pd


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def decimals(values) -> int:
    """Decimals a column of numbers needs to show each value to 3 significant digits, at most 2,
    and no more than the value has (4.7 needs 1, not 4.70; 0: all whole numbers; values below 0.001
    are written in scientific notation instead)."""
    need = 0
    for v in values:
        if isinstance(v, Real) and not isinstance(v, (bool, Integral)) and not _missing(v):
            v = abs(float(v))
            if v >= 1e-3 and not v.is_integer():
                significant = max(0, min(2, 2 - math.floor(math.log10(v))))
                need = max(need, next(d for d in range(significant + 1) if d == significant or round(v, d) == v))
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


def flat(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with one header row (joined multi-level columns) and its named or non-default index
    as leading columns."""
    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = [" ".join(str(c) for c in col if str(c)) for col in frame.columns]
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        names = [n if n is not None else "" for n in frame.index.names]
        frame = frame.set_axis(frame.index.set_names(names)).reset_index()
    return frame


def rows(frame: pd.DataFrame, decimals_by: Literal["column", "row"] = "column") -> list[list[str]]:
    """The cells of a flat frame as text, each numeric column (or row) with one number of decimals."""
    if decimals_by not in ("column", "row"):
        raise ValueError(f"decimals_by is 'column' or 'row', got {decimals_by!r}")
    values = list(frame.itertuples(index=False))
    if decimals_by == "row":
        return [[cell(v, decimals(row)) for v in row] for row in values]
    places = [decimals(frame.iloc[:, j]) for j in range(frame.shape[1])]
    return [[cell(v, p) for v, p in zip(row, places)] for row in values]


def html(frame: pd.DataFrame, caption: str | None = None, decimals_by: Literal["column", "row"] = "column") -> str:
    """``frame`` as an HTML table with the book's cells (the notebooks' display of any DataFrame)."""
    frame = flat(frame)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                   for row in rows(frame, decimals_by))
    title = f"<caption>{escape(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Table:
    """A DataFrame with a caption and a name (see the module docstring)."""

    def __init__(self, frame: pd.DataFrame, caption: str, name: str,
                 decimals_by: Literal["column", "row"] = "column"):
        if not name.startswith("tab-"):
            raise ValueError(f"table names start with 'tab-' (so that references read as tables), got {name!r}")
        self.frame = flat(frame)
        self.caption, self.name, self.decimals_by = " ".join(caption.split()), name, decimals_by
        rows(self.frame.head(0), decimals_by)  # a wrong decimals_by fails here, not when shown

    def _repr_markdown_(self) -> str:
        def line(values) -> str:
            return "| " + " | ".join(str(v).replace("|", "\\|").replace("\n", " ") for v in values) + " |"
        body = [line(self.frame.columns), line(["---"] * self.frame.shape[1]), *map(line, rows(self.frame, self.decimals_by))]
        return "\n".join([f":::{{table}} {self.caption}", f":name: {self.name}", "", *body, ":::"])

    def _repr_html_(self) -> str:
        return html(self.frame, self.caption, self.decimals_by)

    def __repr__(self) -> str:
        return f"{self.caption}\n{self.frame.to_string(index=False)}"


def table(frame: pd.DataFrame, caption: str, name: str,
          decimals_by: Literal["column", "row"] = "column") -> Table:
    """``frame`` as a numbered table with ``caption``, citable as ``{numref}`name```; ``decimals_by="row"``
    for a table whose rows are measures and columns are networks."""
    return Table(frame, caption, name, decimals_by)


DPI = 220  # figures are drawn at twice screen resolution
SMALLEST_TEXT = "onepixel:smallest-text-px"  # PNG text chunk: the smallest text's height in image pixels


def smallest_text(fig) -> float:
    """The font size (points) of the smallest visible, non-empty text drawn in ``fig``; the book's
    browser check turns it into the size a reader sees at each screen width."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=0.0)


class Figure:
    """A matplotlib figure with a caption and a name: drawn once as a 2x PNG, glued (``myst_nb.glue``)
    and shown in the book as a numbered ``{glue:figure}``, in Jupyter as the PNG under its caption.
    Used where a cell draws several figures (a loop) or computes a figure before its caption."""

    def __init__(self, fig, caption: str, name: str):
        if not name.startswith("fig-"):
            raise ValueError(f"figure names start with 'fig-' (so that references read as figures), got {name!r}")

        self.caption, self.name = " ".join(caption.split()), name
        buffer = io.BytesIO()
        fig.canvas.draw()  # lays out the tick labels, so that the smallest text is known
        self.smallest_text_pt = smallest_text(fig)
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight",
                    metadata={SMALLEST_TEXT: f"{self.smallest_text_pt / 72 * DPI:.1f}"})
        self.png = buffer.getvalue()
        plt.close(fig)
        try:
            from IPython.display import Image  # only inside a notebook
            from myst_nb import glue  # only inside a Jupyter Book build

            glue(name, Image(data=self.png, format="png"), display=False)  # the same PNG, drawn once
        except ImportError:  # outside a book build there is nothing to glue into
            pass

    def _repr_markdown_(self) -> str:
        return "\n".join([f":::{{glue:figure}} {self.name}", f":name: {self.name}", "", self.caption, ":::"])

    def _repr_html_(self) -> str:
        data = base64.b64encode(self.png).decode()
        return (f'<figure><img src="data:image/png;base64,{data}" style="max-width:100%">'
                f"<figcaption>{escape(self.caption)}</figcaption></figure>")

    def __repr__(self) -> str:
        return f"Figure {self.name}: {self.caption}"


def figure(fig, caption: str, name: str) -> Figure:
    """``fig`` as a numbered figure with ``caption``, citable as ``{numref}`name```; display it."""
    return Figure(fig, caption, name)
