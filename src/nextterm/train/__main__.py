"""``python -m nextterm.train ...``: the ``nextterm train`` command as a module, for torchrun.

Example: ``torchrun --nproc_per_node 8 -m nextterm.train --preset nextterm-440m --data D --tokens N --out R``.
"""

from __future__ import annotations

import argparse
import sys

from nextterm.errors import NextTermError, report_bug
from nextterm.train.commands import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nextterm.train", description=__doc__.split("\n\n")[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except NextTermError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a bug, not the user's doing
        print(report_bug(error), file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
