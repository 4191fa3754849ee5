"""``python -m ruleengine.cli``: the console script."""

from ruleengine.cli import main

main()
