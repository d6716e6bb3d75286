"""``python -m nextterm.train ...``: the ``nextterm train`` command as a module, for torchrun.

Example: ``torchrun --nproc_per_node 8 -m nextterm.train --preset nextterm-440m --data D --tokens N --out R``.
"""

from __future__ import annotations

import argparse
import sys

from nextterm.train.commands import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nextterm.train", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
