"""Issue 30: waits for a Dask scheduler are bounded and end in a user error (exit 2) naming the
address and what to check: a scheduler without workers, and no scheduler at all."""

from __future__ import annotations

import socket
import time

import pytest

distributed = pytest.importorskip("distributed")

from churnlens import cli  # noqa: E402
from churnlens.errors import UserInputError  # noqa: E402
from churnlens.run.engine import DaskEngine, scheduler_timeout  # noqa: E402
from tests.stack_inputs import write_inputs  # noqa: E402


def test_scheduler_without_workers_is_a_user_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CHURNLENS_SCHEDULER_TIMEOUT", "2")
    d = write_inputs(tmp_path)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        start = time.monotonic()
        with pytest.raises(UserInputError) as err:
            with DaskEngine(address):
                pass
        assert time.monotonic() - start < 10
        msg = str(err.value)
        assert f"the Dask scheduler at {address} has no workers (waited 2 s)" in msg
        assert f"dask worker {address}" in msg and "CHURNLENS_SCHEDULER_TIMEOUT" in msg
        code = cli.main(["report", "--model", str(d / "model.txt"), "--data", str(d / "customers.csv"),
                         "--config", str(d / "config.yaml"), "--out", str(tmp_path / "out"), "--engine", "dask",
                         "--scheduler", address, "--format", "html", "--quiet"])
    err_text = capsys.readouterr().err
    assert code == 2 and "has no workers" in err_text and "Traceback" not in err_text


def test_no_scheduler_at_the_address(monkeypatch):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    start = time.monotonic()
    with pytest.raises(UserInputError, match=f"could not reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s"):
        with DaskEngine(f"tcp://127.0.0.1:{port}", timeout=2):
            pass
    assert time.monotonic() - start < 10


def test_timeout_setting(monkeypatch):
    assert scheduler_timeout() == 30.0
    monkeypatch.setenv("CHURNLENS_SCHEDULER_TIMEOUT", "12.5")
    assert scheduler_timeout() == 12.5 and scheduler_timeout(3) == 3.0
    monkeypatch.setenv("CHURNLENS_SCHEDULER_TIMEOUT", "soon")
    with pytest.raises(UserInputError, match="CHURNLENS_SCHEDULER_TIMEOUT: 'soon' is not a number"):
        scheduler_timeout()
