"""The exceptions tweetsent raises at its edges, each carrying a message a person can act on.

    raise DataError(f"{path}: no column named 'tweet'; found: id, text. Name it with --text-column")

The CLI prints ``str(error)`` as one line on stderr and exits with ``error.exit_code``.
"""

__all__ = [
    "TweetsentError",
    "ConfigError",
    "DataError",
    "EmbeddingError",
    "ModelError",
    "DownloadError",
    "ClusterError",
]


class TweetsentError(Exception):
    """Base class: something the user can fix; the message says what and how."""

    exit_code = 2


class ConfigError(TweetsentError):
    """An unknown key, a wrong type or a value outside the valid choices."""


class DataError(TweetsentError):
    """An input table that cannot be read or does not hold labelled tweets."""


class EmbeddingError(TweetsentError):
    """A word-vector file that cannot be read, or has the wrong or mixed dimensions."""


class ModelError(TweetsentError):
    """A run directory or checkpoint that is missing, corrupt or not tweetsent's."""


class DownloadError(TweetsentError):
    """A download that failed or whose checksum does not match."""


class ClusterError(TweetsentError):
    """A Dask scheduler that cannot be reached or has no workers, or a worker lost while labelling."""
