"""Bad converter inputs (docs/reliability.md, "Converters"): header-only input,
a file cut in the middle of its last row, and a rerun that must not destroy a good
earlier output."""
import os
import shutil

import pandas as pd
import pytest

from _files import tree_digest
from wt_keras.data import cli, prepare_dataset
from wt_keras.data.formats import DatasetFormatError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "datasets")


def _wechat_copy(tmp_path):
    target = tmp_path / "wechat_in"
    shutil.copytree(os.path.join(FIXTURES, "wechat"), target)
    return target


def _good_output(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["prepare", "wechat", "--input", os.path.join(FIXTURES, "wechat"),
                     "--output", str(out)]) == 0
    return out


def test_header_only_input_is_refused_and_keeps_the_good_earlier_output(tmp_path, capsys):
    out = _good_output(tmp_path)
    before = tree_digest(out)
    assert len(pd.read_csv(out / "interactions.csv")) == 6
    source = _wechat_copy(tmp_path)
    actions = source / "user_action.csv"
    header = actions.read_text().splitlines()[0]
    actions.write_text(header + "\n")
    capsys.readouterr()
    status = cli.main(["prepare", "wechat", "--input", str(source), "--output", str(out)])
    err = capsys.readouterr().err
    assert status != 0
    assert "kept 0 rows" in err and "nothing was written" in err
    assert len(err.strip().splitlines()) == 1
    assert tree_digest(out) == before            # byte-identical, no temporary files left


def test_output_files_are_complete_and_leave_no_temporary_files(tmp_path):
    out = _good_output(tmp_path)
    assert sorted(os.listdir(out)) == ["README.md", "interactions.csv", "metadata.json"]
    mode = os.stat(out / "interactions.csv").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def _cut_after_play_digit(path):
    """Sets the last row's play to 750 ms and cuts the file right after its '7'."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[-1].split(",")
    play = header.index("play")
    fields[play] = "750"
    kept = ",".join(fields[:play]) + ",7"
    path.write_text("\n".join(lines[:-1] + [kept]))     # no final newline: the copy was cut
    return len(lines)


def test_file_cut_in_its_last_row_is_refused(tmp_path, capsys):
    source = _wechat_copy(tmp_path)
    line = _cut_after_play_digit(source / "user_action.csv")
    with pytest.raises(DatasetFormatError) as error:
        prepare_dataset("wechat", str(source), str(tmp_path / "never"))
    message = str(error.value)
    assert "user_action.csv" in message and f"line {line}" in message
    assert "cut short" in message
    assert not (tmp_path / "never").exists()
    out = _good_output(tmp_path)
    before = tree_digest(out)
    capsys.readouterr()
    assert cli.main(["prepare", "wechat", "--input", str(source), "--output", str(out)]) == 2
    assert "cut short" in capsys.readouterr().err
    assert tree_digest(out) == before


def test_kuairand_log_cut_in_its_last_row_is_refused(tmp_path):
    source = tmp_path / "kuairand_in"
    shutil.copytree(os.path.join(FIXTURES, "kuairand"), source)
    log = source / "log_standard_4_08_to_4_21_1k.csv"
    lines = log.read_text().splitlines()
    play = lines[0].split(",").index("play_time_ms")
    fields = lines[-1].split(",")
    log.write_text("\n".join(lines[:-1] + [",".join(fields[:play] + ["7"])]))
    with pytest.raises(DatasetFormatError, match="log_standard_4_08_to_4_21_1k.csv.*cut short"):
        prepare_dataset("kuairand", str(source), str(tmp_path / "out"))


def test_complete_file_with_final_newline_still_converts(tmp_path):
    source = _wechat_copy(tmp_path)
    report = prepare_dataset("wechat", str(source), str(tmp_path / "out"))
    assert report.rows_out == 6


def test_empty_input_file_is_refused(tmp_path):
    source = _wechat_copy(tmp_path)
    (source / "feed_info.csv").write_text("")
    with pytest.raises(DatasetFormatError, match="feed_info.csv is empty"):
        prepare_dataset("wechat", str(source), str(tmp_path / "out"))
