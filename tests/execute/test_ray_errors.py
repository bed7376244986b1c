"""Ray's failures of ``ray.get`` are told apart by their types, in one place (``tusk.execute.ray.lost_errors`` and
``lost``): a lost attempt (the scheduler tries again), never tusk's traceback; anything else is not Ray's and
is not swallowed."""

from __future__ import annotations

import pytest

from tusk.execute.ray import lost, lost_errors

ray = pytest.importorskip("ray")


@pytest.mark.parametrize(
    "exc",
    [
        ray.exceptions.WorkerCrashedError(),
        ray.exceptions.TaskCancelledError(),
        ray.exceptions.GetTimeoutError("Get timed out"),
        ray.exceptions.RaySystemError("the raylet died"),
        ConnectionError("Ray Client lost its connection to the cluster"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_rays_failures_are_a_lost_attempt(exc: BaseException) -> None:
    with pytest.raises(lost_errors(ray)) as caught:
        raise exc
    kind, value, message = lost(caught.value)
    assert (kind, value) == ("lost", None)
    assert message.startswith("Ray task failed: ") and "\n" not in message
    assert message != "Ray task failed: ", "an error without text is named by its type"


def test_an_error_that_is_not_rays_is_not_swallowed() -> None:
    with pytest.raises(ValueError):
        try:
            raise ValueError("a bug in tusk")
        except lost_errors(ray):
            pytest.fail("mapped as a lost attempt")
