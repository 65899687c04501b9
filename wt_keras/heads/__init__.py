"""Watch-time heads: Keras layers hidden -> logits with a loss and E[T | x].

| head | logits | model |
|---|---|---|
| `BinomialSoftLabelHead` | [B, K] | SWaT-Binom |
| `BucketizedGeometricHead` | [B, K+1] | SWaT-Geo |
| `GeometricHead` | [B, 1] | vanilla geometric |
| `WeightedLogisticHead` | [B, 1] | WLR |
| `OrdinalHead`, `CreadHead` | [B, K] | OR, CREAD |
| `D2QHead` | [B, 1] | D2Q |
| `TPMHead` | [B, K−1] | TPM (tree over K buckets) |
| `RegressionHead` | [B, 1] | squared-error baseline |

Every head but D2Q and regression (`has_distribution`) also gives its
watch-time distribution: `survival(logits, t)` = P(T > t), `quantile(logits, q)`
(the generalised inverse, seconds) and `completion_probability(logits, duration)`
= P(T ≥ duration).

`ConfidenceTower` gives EXUM's confidence c for any head's `loss`.
"""
from wt_keras.heads.base import WatchTimeHead
from wt_keras.heads.confidence import ConfidenceTower
from wt_keras.heads.d2q import D2QHead
from wt_keras.heads.geometric import GeometricHead, WeightedLogisticHead
from wt_keras.heads.ordinal import CreadHead, OrdinalHead
from wt_keras.heads.regression import RegressionHead
from wt_keras.heads.swat import BinomialSoftLabelHead, BucketizedGeometricHead
from wt_keras.heads.tpm import TPMHead

__all__ = ["WatchTimeHead", "ConfidenceTower", "D2QHead", "GeometricHead",
           "WeightedLogisticHead", "CreadHead", "OrdinalHead", "RegressionHead",
           "BinomialSoftLabelHead", "BucketizedGeometricHead", "TPMHead"]
