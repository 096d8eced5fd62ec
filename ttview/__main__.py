"""``python -m ttview``: the same as the ``ttview`` command."""

from ttview.cli import main

main()
