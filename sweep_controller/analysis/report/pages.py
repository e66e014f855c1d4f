"""The report's index pages, ``index.md`` and ``index.html``, rendered from one list of sections.

Both pages show the same content in the same order, so the content is described once, as a list
of :class:`Section` (a title, an optional paragraph, an optional table, an optional warning and
any number of figures), and each page format is a renderer of that list. Text is escaped for
HTML and table cells for Markdown; nothing here computes anything.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from sweep_controller.analysis.report.figures import Plot
from sweep_controller.analysis.report.tables import Table

__all__ = ["Section", "render_html", "render_markdown"]

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;font-size:14px}img{max-width:100%;border:1px solid #eee}"
    "figure{margin:2em 0}figcaption{color:#444}"
)


@dataclass(frozen=True)
class Section:
    """One part of a page: a paragraph, then a table, then a warning, then figures; all optional."""

    title: str
    text: str = ""
    table: Table | None = None
    warning: str = ""
    plots: tuple[Plot, ...] = ()


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(table.head) + " |", "|" + "---|" * len(table.head)]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows
    ]
    return lines


def render_markdown(title: str, sections: Sequence[Section]) -> str:
    """The page as Markdown."""
    md = [f"# {title}", ""]
    for section in sections:
        md += [f"## {section.title}", ""]
        if section.text:
            md += [section.text, ""]
        if section.table is not None:
            md += [*_md_table(section.table), ""]
        if section.warning:
            md += [f"**{section.warning}**", ""]
        for plot in section.plots:
            md += [f"### {plot.title}", "", f"![{plot.title}]({plot.file})", "", plot.caption, ""]
            md += [f"Files: [PNG]({plot.file}), [SVG]({plot.svg})", ""]
    return "\n".join(md) + "\n"


def _html_table(table: Table) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in table.head)
    trs = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table.rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def render_html(title: str, sections: Sequence[Section], *, page_title: str) -> str:
    """The page as one self-contained HTML document (inline style, relative image links)."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            body.append(f"<p>{html.escape(section.text, quote=False)}</p>")
        if section.table is not None:
            body.append(_html_table(section.table))
        if section.warning:
            body.append(f"<p><strong>{html.escape(section.warning, quote=False)}</strong></p>")
        for plot in section.plots:
            body.append(
                f'<figure><h3>{html.escape(plot.title)}</h3><img src="{html.escape(plot.file)}" '
                f'alt="{html.escape(plot.title)}"><figcaption>{html.escape(plot.caption)} '
                f'Files: <a href="{html.escape(plot.file)}">PNG</a>, '
                f'<a href="{html.escape(plot.svg)}">SVG</a>.</figcaption></figure>'
            )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(page_title)}"
        f"</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n"
    )
