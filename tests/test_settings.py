"""Settings declared once: the method registry, the generated flags, the runners' imports."""
import ast
import dataclasses
import doctest
import importlib
import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

from pipelines.watch_time import cli, configs
from wt_keras.cli import flags
from wt_keras.cli import train as train_cli
from wt_keras.methods import METHODS, get_method
from wt_keras.training_settings import TRAINING_DEFAULTS, TrainingSettings

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The flags users' scripts pass today (from `--help` before the flags were generated).
RUN_FLAGS = ("--data", "--input-format", "--input-pattern", "--rows", "--seed", "--work-dir",
             "--saved-models", "--no-cache", "--features", "--allow-correlated-features",
             "--outlier-policy", "--max-play-ratio", "--verbose")
COMPILE_FLAGS = ("--target", "--output", "--image", "--root", "--data", "--input-format",
                 "--seed", "--vertex-project", "--vertex-region", "--training-replicas",
                 "--training-machine-type")
TRAINING_FLAGS = ("--head", "--exum", "--confidence-penalty", "--point-estimate", "--grid-spec",
                  "--time-scale", "--epochs", "--batch-size", "--learning-rate",
                  "--no-train-metrics", "--mae-max-relative-increase", "--xauc-max-decrease",
                  "--min-xauc", "--beam-arg", "--model-name", "--pipeline-name")
WT_TRAIN_FLAGS = ("--data", "--rows", "--seed", "--method", "--exum", "--confidence-penalty",
                  "--grid-spec", "--time-scale", "--point-estimate", "--epochs", "--batch-size",
                  "--learning-rate", "--no-train-metrics", "--verbose")
# The head class of every method, as the papers name them (written out, not read from the code).
HEAD_CLASSES = {"regression": "RegressionHead", "wlr": "WeightedLogisticHead",
                "geometric": "GeometricHead", "d2q": "D2QHead", "ordinal": "OrdinalHead",
                "cread": "CreadHead", "swat_binom": "BinomialSoftLabelHead",
                "swat_geo": "BucketizedGeometricHead", "tpm": "TPMHead"}


def _subcommand(name):
    parser = cli.build_parser()
    commands = next(action for action in parser._actions  # pylint: disable=protected-access
                    if action.dest == "command")
    return commands.choices[name]


def _option_strings(parser):
    return {option for action in parser._actions  # pylint: disable=protected-access
            for option in action.option_strings}


def test_light_modules_do_not_import_tensorflow():
    code = ("import sys\n"
            "import wt_keras.methods, wt_keras.training_settings, wt_keras.cli.flags\n"
            "from pipelines.watch_time import configs, cli\n"
            "cli.build_parser(); configs.PipelineConfig(head='tpm')\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('tensorflow', 'tf_keras', 'tfx', 'apache_beam'))\n"
            "assert not loaded, loaded\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, cwd=REPOSITORY)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command, expected", [("run", RUN_FLAGS + TRAINING_FLAGS),
                                               ("compile", COMPILE_FLAGS + TRAINING_FLAGS)])
def test_every_pipeline_flag_is_still_there(command, expected):
    assert set(expected) <= _option_strings(_subcommand(command))


def test_every_wt_train_flag_is_still_there():
    assert set(WT_TRAIN_FLAGS) <= _option_strings(train_cli._parser())


@pytest.mark.parametrize("command", ["run", "compile"])
def test_cli_defaults_are_the_config_defaults_field_by_field(command):
    parser = _subcommand(command)
    options = _option_strings(parser)
    overridden = cli.RUN_OVERRIDES if command == "run" else cli.COMPILE_OVERRIDES
    exposed = [field for field in dataclasses.fields(configs.PipelineConfig)
               if flags.flag_name(field) in options and field.name not in overridden]
    assert len(exposed) >= len(TRAINING_FLAGS) + 1, [field.name for field in exposed]
    args = cli.build_parser().parse_args([command])
    parsed = flags.flag_values(args, configs.PipelineConfig, [field.name for field in exposed])
    defaults = configs.PipelineConfig()
    for field in exposed:
        # An unset repeatable flag (--beam-arg) leaves the config's default in place.
        value = parsed.get(field.name, getattr(defaults, field.name))
        assert value == getattr(defaults, field.name), field.name
    assert "beam_pipeline_args" not in parsed and args.beam_arg is None
    # The settings a command builds from no flags at all are the config's.
    settings = cli._common_settings(args)  # pylint: disable=protected-access
    assert configs.PipelineConfig(**settings) == defaults


def test_overridden_defaults_mean_detect_not_another_value():
    args = cli.build_parser().parse_args(["run"])
    assert args.data is None and args.input_format is None
    args = cli.build_parser().parse_args(["compile"])
    assert args.data is None and args.input_format == configs.PipelineConfig().input_format


def test_flags_reach_the_config():
    args = cli.build_parser().parse_args(
        ["run", "--head", "cread", "--exum", "--confidence-penalty", "0.5", "--epochs", "7",
         "--batch-size", "64", "--learning-rate", "0.01", "--time-scale", "10",
         "--grid-spec", "swat_choice_4", "--point-estimate", "0.25", "--seed", "4",
         "--xauc-max-decrease", "0.03", "--mae-max-relative-increase", "0.1",
         "--min-xauc", "0.6", "--model-name", "m", "--pipeline-name", "p",
         "--beam-arg=--runner=FlinkRunner", "--no-cache", "--saved-models", "/tmp/x",
         "--no-train-metrics"])
    config = configs.PipelineConfig(
        **cli._common_settings(args),  # pylint: disable=protected-access
        **flags.flag_values(args, configs.PipelineConfig, ("serving_model_dir", "enable_cache")))
    assert (config.head, config.exum, config.confidence_penalty, config.epochs) == (
        "cread", True, 0.5, 7)
    assert (config.batch_size, config.learning_rate, config.time_scale, config.seed) == (
        64, 0.01, 10.0, 4)
    assert (config.grid_spec, config.point_estimate, config.model_name) == (
        "swat_choice_4", "0.25", "m")
    assert (config.xauc_max_decrease, config.mae_max_relative_increase, config.min_xauc) == (
        0.03, 0.1, 0.6)
    assert config.pipeline_name == "p" and config.beam_pipeline_args == ("--runner=FlinkRunner",)
    assert config.enable_cache is False and config.serving_model_dir == "/tmp/x"
    assert config.train_metrics is False
    assert config.trainer_custom_config()["train_metrics"] is False


def test_no_train_metrics_reaches_wt_train_and_the_pipeline_ranker():
    from pipelines.watch_time import model_factory
    parser = train_cli._parser()  # pylint: disable=protected-access
    for given, expected in (([], True), (["--no-train-metrics"], False)):
        values = flags.flag_values(parser.parse_args(given), TrainingSettings,
                                   train_cli.TRAINING_FLAGS)
        assert values["train_metrics"] is expected
    from _trainer_inputs import three_bucket_boundaries
    tables = three_bucket_boundaries()
    for train_metrics in (False, True):
        custom = configs.PipelineConfig(head="swat_binom", grid_spec="uniform:3",
                                        train_metrics=train_metrics).trainer_custom_config()
        ranker = model_factory.build_ranker(custom, tables, {"user_id": 10}, ["duration_s"])
        assert ranker.train_metrics is train_metrics


def test_wt_train_shares_the_pipeline_and_library_defaults():
    from wt_keras.models.experiment import fit_and_evaluate
    args = train_cli._parser().parse_args([])  # pylint: disable=protected-access
    signature = inspect.signature(fit_and_evaluate).parameters
    pipeline = configs.PipelineConfig()
    shared = [field.name for field in dataclasses.fields(TrainingSettings)]
    assert set(shared) == set(train_cli.TRAINING_FLAGS)
    parsed = flags.flag_values(args, TrainingSettings, train_cli.TRAINING_FLAGS)
    for name in shared:
        expected = getattr(TRAINING_DEFAULTS, name)
        assert parsed[name] == expected, name
        assert getattr(pipeline, "head" if name == "method" else name) == expected, name
        if name != "method":
            assert signature[name].default == expected, name
    # The values users have relied on.
    assert (args.method, args.grid_spec, args.epochs, args.batch_size) == (
        "swat_geo", "uniform:20", 3, 512)
    assert np.isclose(args.learning_rate, 2e-3) and args.point_estimate == "mean"


def test_wt_train_refuses_an_unknown_method_in_one_line(capsys):
    assert train_cli.main(["--method", "swat", "--rows", "10"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("wt-train: error: unknown --method 'swat'; choose one of")
    assert "\n" not in error and "swat_geo" in error


def test_registry_names_and_order():
    assert list(METHODS) == ["regression", "wlr", "geometric", "d2q", "ordinal", "cread",
                             "swat_binom", "swat_geo", "tpm"]
    assert configs.HEADS == tuple(METHODS)
    assert set(configs.NO_DISTRIBUTION_HEADS) == {"d2q", "regression"}
    with pytest.raises(ValueError, match="unknown method 'nope'; choose one of regression"):
        get_method("nope")


@pytest.mark.parametrize("name", list(HEAD_CLASSES))
def test_registry_builds_each_method_head(name):
    from wt_keras.models import bucket_tables, build_head
    rng = np.random.default_rng(0)
    duration = rng.uniform(5.0, 120.0, 4000)
    watch_time = duration * rng.beta(1.0, 2.0, 4000)
    tables = bucket_tables(watch_time, duration)
    head = build_head(name, tables, confidence_penalty=0.5)
    assert type(head).__name__ == HEAD_CLASSES[name]
    assert head.has_distribution is METHODS[name].has_distribution
    assert head.get_config()["confidence_penalty"] == 0.5


@pytest.mark.parametrize("module", ["wt_keras.methods", "wt_keras.training_settings",
                                    "wt_keras.cli.flags"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def _pipeline_imports():
    """{module: set of pipelines.* modules it imports}, function-level imports included."""
    root = os.path.join(REPOSITORY, "pipelines")
    modules = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, REPOSITORY)[:-3].split(os.sep)
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                modules[".".join(parts)] = path
    graph = {}
    for module, path in modules.items():
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        targets = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[module] = {target for target in targets if target in modules and target != module
                         and not module.startswith(target + ".")}   # a package is not a cycle
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[module] = "done"
        return None

    for module in sorted(graph):
        if module not in state:
            found = visit(module)
            if found:
                return found
    return None


def test_the_import_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_pipelines_and_runners_never_import_the_cli():
    graph = _pipeline_imports()
    assert "pipelines.watch_time.local_runner" in graph["pipelines.watch_time.cli"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
    for runner in ("local_runner", "kubeflow_runner"):
        imported = graph[f"pipelines.watch_time.{runner}"]
        assert "pipelines.watch_time.pipeline" in imported
        assert "pipelines.watch_time.cli" not in imported, runner
