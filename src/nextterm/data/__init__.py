"""Training data: OEIS readers, splits with decontamination, augmentations, synthetic families,
nibble-packed token files and length-bucketed batches.

Modules: :mod:`~nextterm.data.oeis` (file readers), :mod:`~nextterm.data.splits` (split and
decontamination), :mod:`~nextterm.data.augment` (transforms), :mod:`~nextterm.data.synthetic`
(rule families), :mod:`~nextterm.data.encode` (fast text -> token ids),
:mod:`~nextterm.data.packed` (file format), :mod:`~nextterm.data.batches` (training batches),
:mod:`~nextterm.data.build` (the whole pipeline), :mod:`~nextterm.data.commands` (CLI).
"""

from nextterm.errors import NextTermError


class DataError(NextTermError):
    """Data settings that cannot work, or input text that is not sequence data."""
