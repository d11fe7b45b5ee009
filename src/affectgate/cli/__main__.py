"""``python -m affectgate.cli``: the same app as the ``affectgate`` script."""

from affectgate.cli import main

main()
