"""Every head with a small configuration, shared by the head test modules."""
import numpy as np

from wt_keras import heads

BOUNDARIES = [3.0, 8.0, 20.0, 45.0]
D2Q_EDGES = [15.0, 40.0]
D2Q_TABLE = np.array([np.linspace(0, 20, 11), np.linspace(0, 50, 11), np.linspace(0, 120, 11)])


def make_heads():
    """name -> freshly constructed head."""
    return {
        "swat_binom": heads.BinomialSoftLabelHead(BOUNDARIES),
        "swat_binom_weighted": heads.BinomialSoftLabelHead(BOUNDARIES, weight_by_width=True),
        "swat_geo": heads.BucketizedGeometricHead(BOUNDARIES),
        "swat_geo_scaled": heads.BucketizedGeometricHead(BOUNDARIES, time_scale=10.0),
        "geometric": heads.GeometricHead(),
        "wlr": heads.WeightedLogisticHead(),
        "ordinal": heads.OrdinalHead(BOUNDARIES),
        "cread": heads.CreadHead(BOUNDARIES),
        "d2q": heads.D2QHead(D2Q_EDGES, D2Q_TABLE),
        "regression": heads.RegressionHead(),
        "tpm": heads.TPMHead(BOUNDARIES),
        "tpm_five_leaves": heads.TPMHead(BOUNDARIES + [90.0]),
    }


HEAD_NAMES = sorted(make_heads())
