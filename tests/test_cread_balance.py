"""CREAD's three loss terms keep the reference implementation's balance on any label scale.

The reference (EGMN's run_cread.py, whose defaults w_r = 1, w_o = 2e-5 we use)
computes, for a batch of B examples with labels divided by t_M:
    mean_b mean_m BCE + w_r mean_b Huber(ŷ − y) + w_o Σ_b Σ_m max(φ_{m+1} − φ_m, 0).
Our per-example loss must be M times that per-example contribution (Σ_m BCE),
whatever the label unit.
"""
import numpy as np
import pytest
import tensorflow as tf

from wt_keras import heads
from wt_keras.heads.ordinal import REFERENCE_BATCH_SIZE


def _reference_batch_loss(phi, labels_normalised, widths_normalised, survival_labels,
                          w_r=1.0, w_o=2e-5):
    """The reference's batch loss, written out in numpy with labels on [0, 1]."""
    bce = -(survival_labels * np.log(phi) + (1 - survival_labels) * np.log1p(-phi)).mean(1)
    error = np.abs(phi @ widths_normalised - labels_normalised)
    huber = np.where(error <= 1.0, 0.5 * error ** 2, error - 0.5)
    ordinal = np.maximum(phi[:, 1:] - phi[:, :-1], 0).sum()
    return bce.mean() + w_r * huber.mean() + w_o * ordinal


@pytest.mark.parametrize("unit", [1.0, 1000.0])       # seconds and milliseconds
def test_loss_is_m_times_the_reference_on_two_label_scales(unit):
    rng = np.random.default_rng(0)
    boundaries = np.array([2.0, 5.0, 9.0, 15.0, 30.0, 60.0]) * unit
    watch_time = rng.uniform(0.0, 70.0, REFERENCE_BATCH_SIZE) * unit
    logits = rng.normal(0.0, 1.5, (REFERENCE_BATCH_SIZE, boundaries.size))
    phi = 1 / (1 + np.exp(-logits))
    head = heads.CreadHead(boundaries)
    ours = head.loss(tf.constant(watch_time), tf.constant(logits)).numpy().mean()
    widths = np.diff(np.concatenate([[0.0], boundaries]))
    survival = (watch_time[:, None] > boundaries).astype(float)
    reference = _reference_batch_loss(phi, watch_time / boundaries[-1], widths / boundaries[-1],
                                      survival)
    assert ours == pytest.approx(boundaries.size * reference, rel=1e-9)


def test_terms_have_the_documented_relative_size_on_seconds_and_milliseconds():
    """At an error of 10 % of t_M the restoration term is M · ½ · 0.1² = M · 0.005."""
    for unit in (1.0, 1000.0):
        boundaries = np.array([10.0, 20.0, 30.0, 40.0]) * unit            # M = 4, t_M = 40
        phi = np.array([[0.9, 0.6, 0.3, 0.2]])                            # restored 20 units
        logits = tf.constant(np.log(phi / (1 - phi)))
        label = tf.constant([24.0 * unit])                                 # error 4 = 10 % of t_M
        parts = {}
        for name, options in {"bce": dict(restoration_weight=0.0, monotonicity_weight=0.0),
                              "restoration": dict(restoration_weight=1.0,
                                                  monotonicity_weight=0.0)}.items():
            parts[name] = float(heads.CreadHead(boundaries, **options).loss(
                tf.cast(label, tf.float64), logits)[0])
        restoration = parts["restoration"] - parts["bce"]
        assert restoration == pytest.approx(4 * 0.005, rel=1e-9)
        # Monotone φ: no ordinal term; one violation of 0.1 costs M · 2048 · 2e-5 · 0.1.
        bumped = tf.constant(np.log([[0.9, 0.6, 0.3, 0.4]] / (1 - np.array([[0.9, 0.6, 0.3, 0.4]]))))
        plain = heads.CreadHead(boundaries, restoration_weight=0.0, monotonicity_weight=0.0)
        cread = heads.CreadHead(boundaries, restoration_weight=0.0)
        ordinal = float(cread.loss(tf.cast(label, tf.float64), bumped)[0]
                        - plain.loss(tf.cast(label, tf.float64), bumped)[0])
        assert ordinal == pytest.approx(4 * 2048 * 2e-5 * 0.1, rel=1e-6)
