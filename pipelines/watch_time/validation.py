"""The data gate: bad data stops the pipeline before training, with a readable message.

ExampleValidator only records anomalies; `DataValidationGate` reads them and
fails the run when a column of the curated schema (the data contract in
`schema/schema.pbtxt`) is missing, has the wrong type, negative or NaN
values, or when a split is empty. The message names the split, the column,
the problem and the fix. Columns outside the contract ("New column") are
features: they are logged, not fatal.

When the data passes, the gate writes the schema the Trainer parses the
examples with: the contract's columns exactly as curated, every other
column as TFDV infers it from the training statistics. Downstream
components depend on the gate, so nothing trains on data that failed it.
"""
import os

# wt_keras first: it selects Keras 2 (TFRS needs it) before TensorFlow loads.
import wt_keras  # noqa: F401  isort: skip

import tensorflow_data_validation as tfdv
from absl import logging
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2
from tfx import v1 as tfx
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

ANOMALIES_FILE = "SchemaDiff.pb"   # what ExampleValidator writes per split
SCHEMA_FILE = "schema.pbtxt"
_Reason = anomalies_pb2.AnomalyInfo
_MISSING_COLUMN = {_Reason.SCHEMA_MISSING_COLUMN}
_MISSING_VALUES = {_Reason.FEATURE_TYPE_LOW_FRACTION_PRESENT,
                   _Reason.FEATURE_TYPE_LOW_NUMBER_PRESENT, _Reason.FEATURE_TYPE_NOT_PRESENT}
_TOO_SMALL = {_Reason.FLOAT_TYPE_SMALL_FLOAT, _Reason.INT_TYPE_SMALL_INT}
_TOO_BIG = {_Reason.FLOAT_TYPE_BIG_FLOAT, _Reason.INT_TYPE_BIG_INT}
_NAN = {_Reason.FLOAT_TYPE_HAS_NAN, _Reason.FLOAT_TYPE_HAS_INF}
_WRONG_TYPE = {_Reason.UNEXPECTED_DATA_TYPE, _Reason.FLOAT_TYPE_STRING_NOT_FLOAT,
               _Reason.FLOAT_TYPE_NOT_FLOAT, _Reason.FLOAT_TYPE_NON_STRING,
               _Reason.FLOAT_TYPE_UNKNOWN_TYPE_NUMBER, _Reason.INT_TYPE_NOT_INT_STRING,
               _Reason.INT_TYPE_INT_EXPECTED, _Reason.FEATURE_MISSING_TYPE}
_INFORMATIONAL = {_Reason.SCHEMA_NEW_COLUMN}


class DataValidationError(ValueError):
    """The input data breaks the pipeline's data contract."""


def _expectation(feature):
    """'FLOAT in every row, >= 0, no NaN' from a curated schema feature."""
    parts = [schema_pb2.FeatureType.Name(feature.type)]
    if feature.presence.min_fraction >= 1.0:
        parts[0] += " in every row"
    if feature.HasField("float_domain"):
        domain = feature.float_domain
        if domain.HasField("min"):
            parts.append(f">= {domain.min:g}")
        if domain.HasField("max"):
            parts.append(f"<= {domain.max:g}")
        if domain.disallow_nan:
            parts.append("no NaN")
    return ", ".join(parts)


def _problem(reason_types, feature, description):
    """A plain-words name for an anomaly, plus a fix hint where one helps."""
    if reason_types & _MISSING_COLUMN:
        return "column is missing", "add the column to every input file"
    if reason_types & _WRONG_TYPE:
        hint = "every value must be a number"
        if "got INT" in description:
            hint = "write whole numbers as decimals (12.0, not 12) or cast the column to float"
        return "wrong type", hint
    if reason_types & _NAN:
        return "NaN or infinite values", "drop or repair the rows with NaN or inf"
    if reason_types & _TOO_SMALL:
        minimum = feature.float_domain.min if feature is not None else None
        name = "negative values" if minimum == 0 else "values below the minimum"
        return name, "drop or repair those rows"
    if reason_types & _TOO_BIG:
        return "values above the maximum", "drop or repair those rows"
    if reason_types & _MISSING_VALUES:
        return "values missing in some rows", "fill or drop the rows without a value"
    return "anomaly", "see the description"


def describe_problems(anomalies_by_split, num_examples_by_split, contract):
    """Lists the fatal problems, one readable line each.

    Args:
      anomalies_by_split: {split: anomalies_pb2.Anomalies} from ExampleValidator.
      num_examples_by_split: {split: number of examples} from the statistics.
      contract: the curated schema_pb2.Schema.

    Returns:
      list of str; empty when the data may be trained on.
    """
    features = {feature.name: feature for feature in contract.feature}
    problems = []
    for split, count in sorted(num_examples_by_split.items()):
        if count == 0:
            problems.append(f"split '{split}' is empty (0 examples): check that the input "
                            "files hold data rows; tiny inputs can leave a hash split empty, "
                            "so give the pipeline more rows.")
    # One line per column and problem, naming every split it occurs in: the
    # same bad column shows up in train and eval alike.
    by_problem = {}
    for split, anomalies in sorted(anomalies_by_split.items()):
        if num_examples_by_split.get(split) == 0:
            continue   # TFDV skips empty splits; reported above
        for column, info in sorted(anomalies.anomaly_info.items()):
            reason_types = {reason.type for reason in info.reason}
            if reason_types <= _INFORMATIONAL:
                continue
            feature = features.get(column)
            problem, fix = _problem(reason_types, feature, info.description)
            expected = f" Expected: {_expectation(feature)}." if feature is not None else ""
            entry = by_problem.setdefault((column, problem), {
                "splits": [], "text": f"{problem} ({info.description}).{expected} Fix: {fix}."})
            entry["splits"].append(split)
        if anomalies.HasField("dataset_anomaly_info"):
            entry = by_problem.setdefault(
                (None, anomalies.dataset_anomaly_info.description),
                {"splits": [], "text": anomalies.dataset_anomaly_info.description})
            entry["splits"].append(split)
    for (column, _), entry in by_problem.items():
        splits = ", ".join(f"'{split}'" for split in entry["splits"])
        where = f"split{'s' if len(entry['splits']) > 1 else ''} {splits}"
        problems.append(f"column '{column}' in {where}: {entry['text']}" if column is not None
                        else f"{where}: {entry['text']}")
    return problems


def merge_training_schema(contract, train_statistics):
    """The Trainer's schema: curated contract columns + inferred feature columns."""
    inferred = tfdv.infer_schema(train_statistics, infer_feature_shape=True)
    curated = {feature.name: feature for feature in contract.feature}
    merged = schema_pb2.Schema()
    merged.CopyFrom(contract)
    for feature in inferred.feature:
        if feature.name not in curated:
            merged.feature.add().CopyFrom(feature)
    for domain in inferred.string_domain:
        merged.string_domain.add().CopyFrom(domain)
    return merged


def _read_anomalies(anomalies_artifact, split):
    path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split), ANOMALIES_FILE)
    return anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))


@tfx.dsl.components.component
def DataValidationGate(  # noqa: N802 (TFX component names are CamelCase)
        statistics: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleStatistics],
        anomalies: tfx.dsl.components.InputArtifact[standard_artifacts.ExampleAnomalies],
        schema: tfx.dsl.components.InputArtifact[standard_artifacts.Schema],
        training_schema: tfx.dsl.components.OutputArtifact[standard_artifacts.Schema],
        train_split: tfx.dsl.components.Parameter[str] = "train"):
    """Fails the run on contract violations; else writes the training schema.

    Args:
      statistics: StatisticsGen output (for empty splits and type inference).
      anomalies: ExampleValidator output against the curated schema.
      schema: the curated schema (ImportSchemaGen).
      training_schema: the schema the Trainer and Evaluator parse with.
      train_split: the split whose statistics the feature types come from.

    Raises:
      DataValidationError: listing every problem found.
    """
    contract = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema.uri))
    splits = artifact_utils.decode_split_names(statistics.split_names)
    stats = {split: stats_artifact_utils.load_statistics(statistics, split).proto()
             for split in splits}
    counts = {split: sum(dataset.num_examples for dataset in proto.datasets)
              for split, proto in stats.items()}
    found = {split: _read_anomalies(anomalies, split)
             for split in artifact_utils.decode_split_names(anomalies.split_names)}
    for split, proto in found.items():
        new = [name for name, info in proto.anomaly_info.items()
               if {reason.type for reason in info.reason} <= _INFORMATIONAL]
        if new:
            logging.info("Split %s: columns outside the data contract (used as features "
                         "when they fit): %s", split, sorted(new))
    problems = describe_problems(found, counts, contract)
    if problems:
        raise DataValidationError(
            "The input data breaks the pipeline's data contract; stopped before training:\n  - "
            + "\n  - ".join(problems))
    io_utils.write_pbtxt_file(os.path.join(training_schema.uri, SCHEMA_FILE),
                              merge_training_schema(contract, stats[train_split]))
