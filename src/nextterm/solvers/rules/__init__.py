"""Rules a person would find, searched in order of description length (Occam).

Families, one module each: closed forms over named primitive sequences (:mod:`.closed_forms`,
:mod:`.primitives`), non-linear and inhomogeneous recurrences (:mod:`.recurrences`), cyclic
operations (:mod:`.cyclic`), interleavings (:mod:`.interleave`), digit and string rules
(:mod:`.digits`) and "numbers with property P" (:mod:`.membership`). Every rule is checked
exactly against every given term and priced in bits (:mod:`.description`); :mod:`.search`
weighs them and returns ranked candidates. :mod:`.settings` holds the search efforts.
"""

from nextterm.solvers.rules.description import Fit
from nextterm.solvers.rules.search import METHOD, find_fits, rule_candidates
from nextterm.solvers.rules.settings import EFFORT_NAMES, EFFORTS, Effort

__all__ = ["EFFORTS", "EFFORT_NAMES", "METHOD", "Effort", "Fit", "find_fits", "rule_candidates"]
