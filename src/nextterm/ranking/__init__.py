"""The learned ranker: one ranking over every source's candidates.

:mod:`.features` turns all candidates a prompt received into one feature row per distinct value;
:mod:`.model` holds the gradient-boosted trees and the probability map fitted on them;
:mod:`.fit` is ``nextterm calibrate``, which fits both on validation data.
"""

from nextterm.ranking.features import FEATURES, ValueGroup, feature_matrix, group_by_value
from nextterm.ranking.model import Ranker, RankerError

__all__ = ["FEATURES", "Ranker", "RankerError", "ValueGroup", "feature_matrix", "group_by_value"]
