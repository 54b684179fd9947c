"""Measurement processes that take turns, epoch by epoch: one computes while the others wait.

A shared machine's speed drifts over tens of seconds. Whole runs back to back land in
different slow or fast spells; runs that alternate every epoch share them. Each process
stays separate (its own thread pools), only one computes at any moment, and every wait
falls between epochs, outside the training clock.

Worker side: :class:`Turns` (a no-op when the process was not started by :func:`take_turns`).
Coordinator side: :func:`take_turns`, given the processes in the order they go first.
"""
from __future__ import annotations

import os
import select
import time
from typing import Optional

ENV = "ORCHARD_TURN_FDS"
_REQUEST, _DONE, _GRANT = b"t", b"d", b"g"


class Turns:
    """A worker's turn: :meth:`take` blocks until it is this process's turn to compute.

    A process's last turn ends at :meth:`finish`, or, without it, when the process has exited and
    its pipe ends are closed (its teardown then runs inside its own turn). The pipe ends are
    close-on-exec: no program it starts can hold the turn after it has exited.

    Args:
        environ: where ``ORCHARD_TURN_FDS`` ("read_fd,write_fd") is looked up.
    """

    def __init__(self, environ: Optional[dict[str, str]] = None) -> None:
        value = (os.environ if environ is None else environ).get(ENV)
        self.fds: Optional[tuple[int, int]] = tuple(int(x) for x in value.split(",")) if value else None
        for fd in self.fds or ():
            os.set_inheritable(fd, False)

    def take(self) -> None:
        """Hand the machine back, then wait for the next turn (returns at once without a coordinator)."""
        if self.fds is None:
            return
        os.write(self.fds[1], _REQUEST)
        if os.read(self.fds[0], 1) != _GRANT:
            raise RuntimeError("the turn coordinator went away")

    def between_epochs(self, epoch: int) -> None:
        """Call before each epoch's clock starts: epoch 0 runs in the turn the process started with."""
        if epoch > 0:
            self.take()

    def finish(self) -> None:
        """This process is done computing: the others go on without it."""
        if self.fds is not None:
            os.write(self.fds[1], _DONE)
            for fd in self.fds:
                os.close(fd)
            self.fds = None


class TurnTimeout(RuntimeError):
    """A process held its turn longer than allowed."""


def _message(fd: int, deadline: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))
    if not ready:
        raise TurnTimeout
    return os.read(fd, 1)  # b"" when the process exited


def take_turns(channels: list[tuple[int, int]], turn_timeout: float) -> None:
    """Grant turns round-robin until every process is done or has exited.

    Args:
        channels: per process, ``(read_fd, write_fd)``: the coordinator's ends of its two pipes,
            in the order the processes go first.
        turn_timeout: seconds one turn may last (start-up and the first epoch included).

    Raises:
        TurnTimeout: a process neither yielded nor exited in time (the caller stops them).
    """
    active = [ch for ch in channels if _message(ch[0], time.monotonic() + turn_timeout) == _REQUEST]
    while active:
        for ch in list(active):
            try:
                os.write(ch[1], _GRANT)
            except BrokenPipeError:  # it exited while waiting
                active.remove(ch)
                continue
            if _message(ch[0], time.monotonic() + turn_timeout) != _REQUEST:
                active.remove(ch)
