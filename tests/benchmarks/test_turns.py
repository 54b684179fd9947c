"""benchmarks.frameworks.turns: real processes computing in turns, epoch by epoch."""
import json
import os
import subprocess
import sys
import time

import pytest

from benchmarks.frameworks.turns import ENV, Turns, TurnTimeout, take_turns
from tests.conftest import REPO

CHILD = """
import atexit, sys, time
from benchmarks.frameworks.turns import Turns
name, epochs, log, crash_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
hold = crash_at == -1  # end the turn by exiting, after a slow teardown, as the frameworks worker does
def teardown():
    time.sleep(0.3)
    with open(log, "a") as f:
        f.write(f"{name} - {time.monotonic()} exit\\n")
if hold:
    atexit.register(teardown)
turns = Turns()
turns.take()
for epoch in range(epochs):
    turns.between_epochs(epoch)
    if epoch == crash_at:
        sys.exit(3)
    if epoch == -crash_at - 2:
        time.sleep(60)
    with open(log, "a") as f:
        f.write(f"{name} {epoch} {time.monotonic()} start\\n")
    time.sleep(0.05)
    with open(log, "a") as f:
        f.write(f"{name} {epoch} {time.monotonic()} end\\n")
if not hold:
    turns.finish()
"""


def start(names_epochs, log, crash_at=None):
    procs, channels = [], []
    for i, (name, epochs) in enumerate(names_epochs):
        to_child, from_child = os.pipe(), os.pipe()
        env = {**os.environ, ENV: f"{to_child[0]},{from_child[1]}", "PYTHONPATH": str(REPO)}
        crash = (crash_at or {}).get(name, 10**6)
        procs.append(subprocess.Popen([sys.executable, "-c", CHILD, name, str(epochs), str(log), str(crash)], env=env,
                                      pass_fds=(to_child[0], from_child[1])))
        os.close(to_child[0])
        os.close(from_child[1])
        channels.append((from_child[0], to_child[1]))
    return procs, channels


def events(log):
    return [line.split() for line in log.read_text().splitlines()]


def test_processes_alternate_epoch_by_epoch_and_never_overlap(tmp_path):
    log = tmp_path / "log"
    procs, channels = start([("A", 3), ("B", 2), ("C", 3)], log)
    take_turns(channels, turn_timeout=60)
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    order = [(name, int(epoch)) for name, epoch, _, what in events(log) if what == "start"]
    assert order == [("A", 0), ("B", 0), ("C", 0), ("A", 1), ("B", 1), ("C", 1), ("A", 2), ("C", 2)]
    spans = [float(t) for _, _, t, _ in events(log)]
    assert spans == sorted(spans)  # each epoch ends before the next process's starts


def test_a_process_that_ends_by_exiting_keeps_its_turn_through_its_teardown(tmp_path):
    log = tmp_path / "log"
    procs, channels = start([("A", 1), ("B", 2)], log, crash_at={"A": -1})
    take_turns(channels, turn_timeout=60)
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    times = {(name, epoch, what): float(t) for name, epoch, t, what in events(log)}
    assert times[("A", "-", "exit")] < times[("B", "0", "start")]  # B's first turn waits for A's exit


def test_a_process_that_dies_leaves_the_others_running(tmp_path):
    log = tmp_path / "log"
    procs, channels = start([("A", 3), ("B", 3)], log, crash_at={"A": 1})
    take_turns(channels, turn_timeout=60)
    assert [p.wait(timeout=60) for p in procs] == [3, 0]
    order = [(name, int(epoch)) for name, epoch, _, what in events(log) if what == "start"]
    assert order == [("A", 0), ("B", 0), ("B", 1), ("B", 2)]


def test_a_turn_longer_than_the_timeout_raises(tmp_path):
    log = tmp_path / "log"
    procs, channels = start([("A", 3), ("B", 3)], log, crash_at={"B": -3})  # B sleeps 60 s in epoch 1
    t0 = time.monotonic()
    with pytest.raises(TurnTimeout):
        take_turns(channels, turn_timeout=3)
    assert time.monotonic() - t0 < 30
    for p in procs:
        p.kill()
        p.wait()


def test_the_pipe_ends_are_not_handed_to_programs_the_worker_starts():
    read_fd, write_fd = os.pipe()
    for fd in (read_fd, write_fd):
        os.set_inheritable(fd, True)  # as subprocess's pass_fds leaves them in the worker
    try:
        turns = Turns(environ={ENV: f"{read_fd},{write_fd}"})
        assert turns.fds == (read_fd, write_fd)
        assert not os.get_inheritable(read_fd) and not os.get_inheritable(write_fd)
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_frameworks_worker_keeps_its_turn_until_it_exits(tmp_path, monkeypatch):
    """worker.main writes its result and returns without ending the turn itself (it ends at exit)."""
    from benchmarks.frameworks import worker

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"result": str(tmp_path / "result.json")}))
    monkeypatch.setattr(worker, "run", lambda *a, **k: {"kind": "stub"})
    monkeypatch.setattr(Turns, "finish", lambda self: pytest.fail("the worker ended its turn before its exit"))
    assert worker.main([str(spec)]) == 0
    assert json.loads((tmp_path / "result.json").read_text()) == {"kind": "stub"}


def test_without_a_coordinator_turns_are_no_ops():
    turns = Turns(environ={})
    turns.take()
    turns.between_epochs(3)
    turns.finish()
    assert turns.fds is None
