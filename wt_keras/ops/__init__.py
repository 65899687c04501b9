"""Pure TensorFlow functions: every formula of the heads lives here, once.

Layers in `wt_keras.heads` and losses in `wt_keras.losses` are thin wrappers
around these functions (the TF-Ranking `losses_impl` pattern). All functions
take logits, never probabilities: log p = log σ(z) and log(1 − p) = log σ(−z).
"""
from wt_keras.ops.bucketing import bucket_coverage, bucket_edges, bucket_exit, bucket_index
from wt_keras.ops.bucketing import bucket_soft_labels
from wt_keras.ops.cross_entropy import negative_log_sigmoid, sigmoid_cross_entropy_sum, sigmoid_value
from wt_keras.ops.cross_entropy import sigmoid_cross_entropy_terms
from wt_keras.ops.d2q import d2q_duration_group, d2q_quantile_label, d2q_watch_time
from wt_keras.ops.exum import confidence_penalty, continuation_targets, fused_binary_cross_entropy
from wt_keras.ops.exum import fused_squared_error
from wt_keras.ops.exum_step import fused_step_cross_entropy
from wt_keras.ops.geometric import geometric_expected_watch_time, geometric_nll
from wt_keras.ops.geometric import weighted_logistic_loss
from wt_keras.ops.intercept import intercept_logits
from wt_keras.ops.ordinal import cread_loss, cread_restoration_loss, huber, ordinal_labels
from wt_keras.ops.ordinal import ordinal_cross_entropy
from wt_keras.ops.ordinal import ordinal_monotonicity_penalty, ordinal_restored_watch_time
from wt_keras.ops.swat import binomial_expected_watch_time, binomial_soft_label_loss
from wt_keras.ops.swat import bucketized_geometric_expected_watch_time
from wt_keras.ops.swat import bucketized_geometric_expectation_from_terms, bucketized_geometric_log_stay
from wt_keras.ops.swat import bucketized_geometric_expectation_by_horner
from wt_keras.ops.swat import bucketized_geometric_terms
from wt_keras.ops.swat import bucketized_geometric_nll, bucketized_geometric_reach, geometric_partial_sum
from wt_keras.ops.swat import bucketized_geometric_log_reach, bucketized_geometric_unit_hazard
from wt_keras.ops.geometric_distribution import bucketized_geometric_log_survival
from wt_keras.ops.geometric_distribution import bucketized_geometric_quantile_units
from wt_keras.ops.geometric_distribution import bucketized_geometric_law, bucketized_geometric_start_hazard
from wt_keras.ops.geometric_distribution import units_above, units_at_least
from wt_keras.ops.projection import dense_logits, row_scaled
from wt_keras.ops.scan import exclusive_cumsum
from wt_keras.ops.piecewise_linear import piecewise_linear_quantile, piecewise_linear_survival
from wt_keras.ops.piecewise_linear import running_minimum, survival_from_bucket_probabilities
from wt_keras.ops.binomial_distribution import binomial_sum_pmf, binomial_sum_survival_table
from wt_keras.ops.binomial_distribution import binomial_trials, quantile_from_table
from wt_keras.ops.binomial_distribution import survival_from_table
from wt_keras.ops.tpm import tpm_expected_watch_time, tpm_leaf_index, tpm_leaf_log_probabilities
from wt_keras.ops.tpm import tpm_leaf_probabilities, tpm_path_targets, tpm_regularizers
from wt_keras.ops.tpm import tpm_tree, tpm_tree_cross_entropy, tpm_variance
from wt_keras.ops.units import watch_time_units
