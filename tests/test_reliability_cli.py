"""Bad `wt-train --data` inputs give one-line errors; the CLIs start quietly
(docs/reliability.md, "CLI")."""
import os
import subprocess
import sys

import pytest

from wt_keras.cli import train

HEADER = "user_id,video_id,watch_time_s,duration_s\n"


def _error_line(capsys, argv):
    status = train.main(argv)
    captured = capsys.readouterr()
    assert status == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("wt-train: error: ")
    return lines[0]


def test_missing_file(tmp_path, capsys):
    line = _error_line(capsys, ["--data", str(tmp_path / "nope.csv")])
    assert "nope.csv does not exist" in line


def test_folder_without_interactions_csv(tmp_path, capsys):
    line = _error_line(capsys, ["--data", str(tmp_path)])
    assert "is a folder without interactions.csv" in line


def test_folder_with_interactions_csv_is_read(tmp_path):
    (tmp_path / "interactions.csv").write_text(HEADER + "1,2,3.5,10\n4,5,0,20\n")
    frame = train.load_training_csv(str(tmp_path))
    assert list(frame["watch_time_s"]) == [3.5, 0.0]


def test_header_only_file(tmp_path, capsys):
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER)
    line = _error_line(capsys, ["--data", str(path)])
    assert "has 0 data row(s)" in line


def test_empty_file(tmp_path, capsys):
    path = tmp_path / "interactions.csv"
    path.write_text("")
    assert "is empty" in _error_line(capsys, ["--data", str(path)])


@pytest.mark.parametrize("value, what", [("-4", "negative"), ("inf", "inf"),
                                         ("abc", "not a number"), ("", "empty")])
def test_bad_labels_name_the_line(tmp_path, capsys, value, what):
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER + "1,2,3.5,10\n4,5,3,20\n6,7," + value + ",30\n")
    line = _error_line(capsys, ["--data", str(path)])
    assert f"1 row(s) have a watch_time_s that is {what} (first on line 4" in line


def test_missing_column(tmp_path, capsys):
    path = tmp_path / "interactions.csv"
    path.write_text("user_id,watch_time_s\n1,2\n3,4\n")
    assert "lacks columns ['video_id', 'duration_s']" in _error_line(capsys, ["--data", str(path)])


def test_non_utf8_file(tmp_path, capsys):
    path = tmp_path / "interactions.csv"
    path.write_bytes(HEADER.encode() + b"1,2,3,\xff\xfe\n")
    assert "is not UTF-8" in _error_line(capsys, ["--data", str(path)])


def _run(*argv):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",
                                                             "PYTHONWARNINGS")}
    return subprocess.run([sys.executable, "-c", "import sys; from " + argv[0] +
                           " import main; sys.exit(main())", *argv[1:]],
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
def test_wt_serve_first_screen_is_its_own_output(tmp_path):
    """TensorFlow loads here: its CUDA-registration lines and the Python-version
    FutureWarning must not show without --verbose."""
    result = _run("wt_keras.export.check", "check", str(tmp_path / "missing"))
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "cuda" not in output.lower() and "FutureWarning" not in output
    assert output.strip().splitlines() == [f"FAIL {tmp_path / 'missing'} does not exist.",
                                           "FAILED (1 problem(s))"]


@pytest.mark.slow
def test_wt_train_error_screen_is_one_line(tmp_path):
    result = _run("wt_keras.cli.train", "--data", str(tmp_path / "nope.csv"))
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_wt_data_unwritable_output_is_one_line(tmp_path, capsys):
    from wt_keras.data import cli as data_cli
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    fixtures = os.path.join(os.path.dirname(__file__), "fixtures", "datasets", "wechat")
    for argv in (["simulate", "--output", str(blocker / "out"), "--rows", "50"],
                 ["prepare", "wechat", "--input", fixtures, "--output", str(blocker / "out")]):
        assert data_cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("wt-data: error: cannot use ")
        assert "Not a directory" in err[0]


@pytest.mark.parametrize("value", ["0", "-3", "nan", ""])
def test_bad_durations_name_the_line(tmp_path, capsys, value):
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER + "1,2,3.5,10\n4,5,3," + value + "\n")
    line = _error_line(capsys, ["--data", str(path)])
    assert "1 row(s) have a duration_s that is missing, not a number, inf or <= 0 " \
           "(first on line 3" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root may read any file")
def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "interactions.csv"
    path.write_text(HEADER + "1,2,3.5,10\n")
    path.chmod(0)
    assert "cannot read" in _error_line(capsys, ["--data", str(path)])
