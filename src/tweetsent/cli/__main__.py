"""``python -m tweetsent.cli`` is the ``tweetsent`` command."""

from tweetsent.cli import main

__all__: list[str] = []

main()
