"""`make`'s virtualenv belongs to its checkout: a copied or moved one is reinstalled, not trusted.

An editable install records the checkout's path, so with a `.venv` copied along with
the repository `wt-pipeline` (and Beam's worker processes) would import the old
checkout's code. The Makefile's `venv` target reinstalls then. These tests run the
real Makefile with a stand-in interpreter that runs Python for everything but `pip`,
whose calls it only records: nothing is installed anywhere.
"""
import os
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stand_in_venv(directory):
    """A `.venv` whose python records `-m pip` calls and runs everything else for real."""
    log = os.path.join(directory, "pip_calls.log")
    bin_dir = os.path.join(directory, "venv", "bin")
    os.makedirs(bin_dir)
    python = os.path.join(bin_dir, "python")
    with open(python, "w", encoding="utf-8") as handle:
        handle.write(f"""#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "{log}"; exit 0; fi
exec "{sys.executable}" "$@"
""")
    os.chmod(python, 0o755)
    stamp = os.path.join(directory, "venv", ".installed")
    open(stamp, "w", encoding="utf-8").close()
    return os.path.join(directory, "venv"), log


def make_venv(checkout, venv):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("MAKEFLAGS", "MFLAGS", "PYTHONPATH")}
    return subprocess.run(["make", "--no-print-directory", "venv", f"VENV={venv}"], cwd=checkout,
                          env=environment, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_the_checkout_the_venv_was_installed_from_is_left_alone(tmp_path):
    lookup = "import importlib.util as u; print(u.find_spec('wt_keras').origin)"
    installed = subprocess.run([sys.executable, "-I", "-c", lookup], capture_output=True,
                               text=True, check=True).stdout.strip()
    here = os.path.join(REPO, "wt_keras", "__init__.py")
    if os.path.realpath(installed) != os.path.realpath(here):
        pytest.skip(f"this interpreter's wt_keras is installed from another checkout ({installed})")
    venv, log = stand_in_venv(str(tmp_path))
    completed = make_venv(REPO, venv)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "another checkout" not in completed.stdout
    assert not os.path.exists(log), "pip ran although the venv already imports this checkout"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_a_copied_checkout_reinstalls_wt_keras_from_itself(tmp_path):
    copy = tmp_path / "copy"
    (copy / "wt_keras").mkdir(parents=True)
    (copy / "wt_keras" / "__init__.py").write_text("")
    for name in ("Makefile", "setup.py", "constraints.txt"):
        shutil.copy(os.path.join(REPO, name), copy / name)
    venv, log = stand_in_venv(str(tmp_path))
    completed = make_venv(str(copy), venv)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"reinstalling it from {os.path.realpath(copy)}" in completed.stdout
    with open(log, encoding="utf-8") as handle:
        calls = handle.read()
    assert "install -q -c constraints.txt -e .[pipeline,test]" in calls, calls
    assert os.path.exists(os.path.join(venv, ".installed"))
