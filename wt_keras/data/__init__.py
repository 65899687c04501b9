"""Data for wt_keras: the seeded KuaiRand-grounded simulator and converters that turn
the public watch-time datasets (KuaiRand, KuaiRec, CIKM16 DIGINETICA, WeChat Channels
2021) into the pipeline's CSV. Pure numpy/pandas: importing this never loads TensorFlow.

Bundled real data: a column subset of KuaiRand-Pure (Gao et al., CIKM 2022,
https://kuairand.com/, CC BY-SA 4.0); attribution in ``assets/NOTICE.md``.
"""
from wt_keras.data.kuairand import (ATTRIBUTION, USER_FEATURE_COLUMNS,
                                    VIDEO_FEATURE_COLUMNS, load_user_table,
                                    load_video_table)
from wt_keras.data.simulator import (BEHAVIORS, DURATION_COLUMN, FEATURE_COLUMNS,
                                     LABEL_COLUMN, LABEL_SIDE_COLUMNS, OUTPUT_COLUMNS,
                                     SimulatorConfig, simulate_interactions,
                                     write_simulated_csv)


def prepare_dataset(name, input_dir, output_dir, **options):
    """Converts a public dataset to ``output_dir/interactions.csv`` (see ``formats``)."""
    from wt_keras.data import formats  # lazy: the CLI and the simulator do not need it
    return formats.prepare_dataset(name, input_dir, output_dir, **options)


__all__ = [
    "ATTRIBUTION", "BEHAVIORS", "DURATION_COLUMN", "FEATURE_COLUMNS", "LABEL_COLUMN",
    "LABEL_SIDE_COLUMNS", "OUTPUT_COLUMNS", "USER_FEATURE_COLUMNS",
    "VIDEO_FEATURE_COLUMNS", "SimulatorConfig", "load_user_table", "load_video_table",
    "prepare_dataset", "simulate_interactions", "write_simulated_csv",
]
