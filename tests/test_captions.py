import pandas as pd
import pytest

from onepixel.publish import captions


def test_a_table_is_a_numbered_myst_table_with_readable_cells():
    frame = pd.DataFrame({"model": ["allconv", "nin|x"], "n": [24.0, float("nan")], "rate %": [22.4, 28.31],
                          "inside": [True, False]})
    md = captions.table(frame, "Success   rates\n(95% interval).", "tab-rates")._repr_markdown_().splitlines()
    assert md[:3] == [":::{table} Success rates (95% interval).", ":name: tab-rates", ""]
    assert md[3] == "| model | n | rate % | inside |" and md[-1] == ":::"
    assert md[5] == "| allconv | 24 | 22.4 | yes |", "integers as integers, one number of decimals per column"
    assert captions.decimals([1840.5, 91.23]) == 1 and captions.decimals([0.4567]) == 2 and captions.cell(5e-7) == "5e-07"
    assert captions.decimals([25.4, 4.7, 74.6]) == 1 and captions.decimals([4.71, 25.4]) == 2, \
        "no trailing zeros a column's values do not have"
    assert captions.decimals([12345.6]) == 0 and captions.decimals([0.5, 0.25]) == 2
    assert md[6] == "| nin\\|x | – | 28.3 | no |", "missing values as a dash, pipes escaped"


def test_the_index_is_kept_as_a_column_and_html_is_escaped():
    frame = pd.DataFrame({"v": [1, 2]}, index=pd.Index(["<a>", "b"], name="class"))
    table = captions.table(frame, "Caption & more", "tab-x")
    assert list(table.frame.columns) == ["class", "v"]
    html = table._repr_html_()
    assert "<caption>Caption &amp; more</caption>" in html and "&lt;a&gt;" in html


def test_table_names_must_read_as_tables():
    with pytest.raises(ValueError, match="start with 'tab-'"):
        captions.table(pd.DataFrame({"a": [1]}), "c", "fig-a")


def test_any_dataframe_shows_no_missing_values_and_whole_numbers_as_integers():
    import re

    import numpy as np

    df = pd.DataFrame({"none": [None, None], "rate": [1.363808, None], "text": ["x", None], "n": [24.0, np.nan]})
    cells = re.findall(r"<td>(.*?)</td>", captions.html(df))
    assert cells == ["–", "1.36", "x", "24"] + ["–"] * 4


def test_a_figure_drawn_in_a_loop_is_glued_and_numbered(monkeypatch):
    import matplotlib
    import myst_nb

    glued = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display: glued.update({name: value}))

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    shown = captions.figure(fig, "Two  points.", "fig-two")
    assert shown._repr_markdown_().splitlines() == [":::{glue:figure} fig-two", ":name: fig-two", "", "Two points.", ":::"]
    assert shown._repr_html_().startswith('<figure><img src="data:image/png;base64,iVBOR')
    assert not plt.get_fignums()  # closed: not shown a second time by the inline backend
    assert glued["fig-two"].data == shown.png  # the book shows the PNG drawn once for Jupyter
    with pytest.raises(ValueError, match="start with 'fig-'"):
        captions.figure(plt.figure(), "x", "two")


def test_a_table_whose_rows_are_measures_takes_its_decimals_per_row():
    frame = pd.DataFrame({"allconv": ["AllConv", 22.6, 53.72, 3.41], "squeezenet": ["AlexNet", 15.8, 36.3, None]},
                         index=pd.Index(["paper network", "rate %", "confidence %", "paper %"], name="measure"))
    by_row = captions.table(frame, "c", "tab-c", decimals_by="row")._repr_markdown_().splitlines()[5:-1]
    assert by_row == ["| paper network | AllConv | AlexNet |", "| rate % | 22.6 | 15.8 |",
                      "| confidence % | 53.7 | 36.3 |", "| paper % | 3.41 | – |"]
    by_column = captions.table(frame, "c", "tab-c")._repr_markdown_().splitlines()[6]
    assert by_column == "| rate % | 22.60 | 15.8 |", "per column, 3.41 sets two decimals for 22.6"
    with pytest.raises(ValueError, match="decimals_by is 'column' or 'row'"):
        captions.table(frame, "c", "tab-c", decimals_by="cell")
