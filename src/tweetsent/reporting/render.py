"""Reports through Jinja2 templates that ship with the package, all sharing one stylesheet.

    page = render("report.html.j2", title="...", ...)   # autoescaped: a tweet is data, never markup

Templates live in ``tweetsent/reporting/templates`` and are loaded with `jinja2.PackageLoader`,
so they work from an installed wheel as from a checkout. ``*.html.j2`` templates are autoescaped;
Markdown ones (``*.md.j2``) are not, and pass every cell through the ``md`` filter instead. Each
HTML page inlines ``report.css`` (the ``stylesheet`` variable) and its figures as ``data:`` URIs
(the ``data_uri`` filter), so a report is one file that opens from disk with no network. The
``class_text`` filter names a class: ``{{ cls | class_text(result.label_names) }}`` is "1 (anti-vax)".
"""

from __future__ import annotations

import base64
import functools
import html

from tweetsent.data.labels import class_text

__all__ = ["data_uri", "md_cell", "render", "stylesheet"]

_TEMPLATES = "templates"


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def md_cell(text) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, ``|`` escaped, on one line."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


@functools.cache
def stylesheet() -> str:
    """The one stylesheet every HTML report inlines."""
    from importlib import resources

    return resources.files("tweetsent.reporting").joinpath(_TEMPLATES, "report.css").read_text(encoding="utf-8")


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("tweetsent.reporting", _TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=("md.j2",),
                                            default=True),
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails instead of rendering as nothing
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )  # fmt: skip
    env.filters.update(data_uri=data_uri, md=md_cell, class_text=class_text)
    return env


def render(template: str, **context) -> str:
    """Render one of the package's templates with ``context`` (plus ``stylesheet``).

    Parameters
    ----------
    template : str
        A file name under ``tweetsent/reporting/templates``, e.g. ``"report.html.j2"``.
    **context
        The template's variables: plain data, and functions it calls (a number formatter).

    Returns
    -------
    str
        The page.
    """
    from markupsafe import Markup

    # Markup: the stylesheet is ours and sits in a <style> element, where entities are not decoded.
    return _environment().get_template(template).render(stylesheet=Markup(stylesheet()), **context)
