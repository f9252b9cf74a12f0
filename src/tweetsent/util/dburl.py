"""Database URLs as tweetsent takes them: ``postgres://`` spellings, the installed PostgreSQL driver,
and the password kept out of every message.

    url = with_pg_driver(normalise_url("postgres://me:secret@db/runs"))   # postgresql+psycopg2://...
    safe_url(url)                                                         # postgresql+psycopg2://me:***@db/runs

The run log (`tweetsent.runlog.store`) and the study storage (`tweetsent.tune.study`) both open
URLs through these, so both accept the same spellings and name a database the same way.
SQLAlchemy is imported inside the functions.
"""

from __future__ import annotations

import importlib.util

from tweetsent.errors import ConfigError

__all__ = ["PG_DRIVERS", "normalise_url", "safe_url", "with_pg_driver"]

# Tried in this order; tweetsent's postgres extra installs psycopg2.
PG_DRIVERS = ("psycopg2", "psycopg")


def normalise_url(url: str) -> str:
    """``postgres://...`` (Heroku's and libpq's spelling) as SQLAlchemy's ``postgresql://...``; other URLs as given."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


def safe_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, for messages; ``url`` itself when it does not parse."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # an unparsable URL has no password field to hide
        return url


def with_pg_driver(url: str) -> str:
    """A ``postgresql://`` URL with the installed driver named (``postgresql+psycopg2://``).

    SQLAlchemy 2.1 defaults to psycopg 3, while tweetsent's postgres extra installs psycopg2;
    naming the driver makes either work. Other URLs, and ones that already name a driver, are
    returned as given.

    Raises
    ------
    ConfigError
        When neither psycopg2 nor psycopg is installed.
    """
    url = normalise_url(url)
    if not url.startswith("postgresql://"):
        return url
    driver = next((d for d in PG_DRIVERS if importlib.util.find_spec(d) is not None), None)
    if driver is None:
        raise ConfigError(f"{safe_url(url)}: no PostgreSQL driver installed; pip install 'tweetsent[postgres]'")
    return f"postgresql+{driver}://" + url[len("postgresql://"):]
