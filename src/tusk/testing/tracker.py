"""The Tracker conformance suite: every tracker backend subclasses ``TrackerSuite`` and provides a ``tracker``
fixture (a ready store; it may already hold other tests' models, so each test names its own with ``names``)
and ``delete_version`` (what a user does in the backend's own UI: the suite checks tusk copes).

Every refusal must be tusk's own error type (``TrackingError`` or its subclass ``ModelNotFound``), never the
backend's driver exception: the CLI prints those on one line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tusk.errors import ModelNotFound, TrackingError
from tusk.tracking import tags as T
from tusk.tracking.base import FailureRecord, InputRecord, InstanceState, Tracker, TrainRecord

Names = Callable[[str], str]


def record(
    tmp_path: Path, name: str, fingerprint: str, accuracy: float = 0.9, promote_if: str | None = None
) -> TrainRecord:
    """A finished job of instance ``name``: a model file, a log, one metric."""
    job = tmp_path / "jobs" / f"{name}-{fingerprint}-{uuid.uuid4().hex[:6]}"
    (job / "model").mkdir(parents=True)
    (job / "model" / "weights.txt").write_text(fingerprint)
    (job / "job.log").write_text(f"trained {name} {fingerprint}\n")
    state = InstanceState(
        name=name,
        version="",
        fingerprint=fingerprint,
        data_commit="c" * 40,
        inputs={"examples": InputRecord("SELECT 1", {}, "d" * 64, 3)},
        spec="m-{c}",
    )
    return TrainRecord(
        state=state,
        metrics={"accuracy": accuracy},
        params={"C": 1.0},
        tags={"tusk.fingerprint": fingerprint, "tusk.data_commit": "c" * 40},
        output_dir=job / "model",
        log_file=job / "job.log",
        seconds=1.0,
        resources={"cpus": 1, "gpus": 0},
        promote_if=promote_if,
    )


def failure(tmp_path: Path, name: str, fingerprint: str, error: str, log: str | None = "") -> FailureRecord:
    """A failed job of instance ``name`` as the runner hands it over: params, the tags its success would have
    had, the whole error, its job.log (``log=None``: none)."""
    job = tmp_path / "jobs" / f"{name}-{fingerprint}-{uuid.uuid4().hex[:6]}"
    job.mkdir(parents=True)
    if log is not None:
        (job / "job.log").write_text(log or f"failing {name} {fingerprint}\n")
    tags = {
        T.INSTANCE: name,
        T.SPEC: "m-{c}",
        T.FINGERPRINT: fingerprint,
        T.DATA_COMMIT: "c" * 40,
        T.ERROR: error.strip().splitlines()[-1],
    }
    return FailureRecord(
        name,
        {"C": 1.0},
        tags,
        error,
        job / "job.log" if log is not None else None,
        {"mlflow.source.name": "models/m.py"},
    )


def train(tracker: Any, tmp_path: Path, name: str, *fingerprints: str, **options: Any) -> list[str]:
    """Register one version per fingerprint, each on top of the state before it → their versions."""
    versions = []
    for fp in fingerprints:
        versions.append(tracker.register(record(tmp_path, name, fp, **options), previous=tracker.states().get(name)))
    return versions


class TrackerSuite:
    @pytest.fixture
    def tracker(self) -> Tracker:  # pragma: no cover - overridden
        raise NotImplementedError

    def delete_version(self, tracker: Any, name: str, version: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def names(self) -> Names:
        prefix = f"t{uuid.uuid4().hex[:8]}"
        return lambda name: f"{prefix}-{name}"

    def test_is_a_tracker(self, tracker: Tracker) -> None:
        assert isinstance(tracker, Tracker)

    def test_register_records_the_state_the_alias_and_the_version(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name = names("a")
        assert train(tracker, tmp_path, name, "f1") == ["1"]
        state = tracker.states()[name]
        assert (state.version, state.fingerprint, state.fingerprints) == ("1", "f1", {"f1": "1"})
        assert state.inputs["examples"].rows == 3 and state.production == ["1"]
        assert tracker.aliases()[name] == "1" and name in tracker.models()
        info = tracker.version(name, "1")
        assert info.tags["tusk.fingerprint"] == "f1" and info.metrics == {"accuracy": 0.9} and info.run_id
        assert train(tracker, tmp_path, name, "f2") == ["2"]
        assert [v.version for v in tracker.versions(name)] == ["2", "1"], "newest first"
        assert tracker.versions(name)[0].aliases == ["production"]
        assert tracker.find_fingerprint(name, "f1") == "1" and tracker.find_fingerprint(name, "zz") is None

    def test_a_version_below_promote_if_becomes_current_but_not_production(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name = names("b")
        train(tracker, tmp_path, name, "f1")
        train(tracker, tmp_path, name, "f2", accuracy=0.1, promote_if="accuracy > 0.5")
        state = tracker.states()[name]
        assert tracker.aliases()[name] == "1" and state.version == "2" and state.production == ["1"]
        assert state.fingerprints == {"f1": "1", "f2": "2"}

    def test_reuse_makes_an_older_version_current_and_production(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name = names("c")
        train(tracker, tmp_path, name, "f1", "f2")
        state = tracker.states()[name]
        state.version, state.fingerprint = "1", "f1"
        tracker.reuse(state)
        assert tracker.aliases()[name] == "1" and tracker.states()[name].version == "1"
        assert len(tracker.versions(name)) == 2, "a reuse registers nothing"

    def test_rollback_walks_back_through_the_production_history(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name = names("d")
        train(tracker, tmp_path, name, "f1", "f2", "f3")
        assert tracker.rollback(name) == ("3", "2")
        assert tracker.rollback(name) == ("2", "1")
        assert tracker.rollback(name) == ("1", "1"), "nothing earlier: nothing moves"
        assert tracker.aliases()[name] == "1"
        assert tracker.rollback(name, to="3") == ("1", "3")
        with pytest.raises(ModelNotFound):
            tracker.rollback(name, to="42")
        assert tracker.aliases()[name] == "3", "a refused rollback moves nothing"
        never = names("never")
        train(tracker, tmp_path, never, "f1", accuracy=0.1, promote_if="accuracy > 0.5")
        with pytest.raises(TrackingError, match="no production version"):
            tracker.rollback(never)

    def test_set_alias_needs_an_existing_version(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        name = names("e")
        train(tracker, tmp_path, name, "f1", "f2")
        tracker.set_alias(name, "1")
        assert tracker.aliases()[name] == "1" and tracker.states()[name].production[-1] == "1"
        with pytest.raises(ModelNotFound):
            tracker.set_alias(name, "9")
        assert tracker.aliases()[name] == "1"

    def test_move_production_is_idempotent_and_removes_aliases(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        a, b = names("f"), names("g")
        train(tracker, tmp_path, a, "f1", "f2")
        train(tracker, tmp_path, b, "f1")
        assert tracker.move_production({a: "1", b: None}) == [a, b]
        assert tracker.aliases().get(a) == "1" and b not in tracker.aliases()
        assert tracker.move_production({a: "1", b: None}) == [], "a second pass moves nothing"
        assert tracker.states()[a].production[-1] == "1"

    def test_a_candidate_is_registered_without_becoming_current(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name, fresh = names("h"), names("i")
        train(tracker, tmp_path, name, "f1")
        version = tracker.register_candidate(record(tmp_path, name, "f2"), "fix")
        assert version == "2"
        assert tracker.states()[name].version == "1" and tracker.aliases()[name] == "1"
        found = tracker.candidates()[name]["f2"]
        assert (found.version, found.review) == ("2", "fix")
        assert tracker.register_candidate(record(tmp_path, fresh, "f1"), "fix") == "1", "a new model's candidate"
        assert fresh not in tracker.states() and fresh not in tracker.aliases()

    def test_a_candidate_left_unlisted_by_a_kill_is_listed_not_registered_twice(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        """A run killed between creating a candidate's version and listing it (crash point candidate.version):
        the candidate trained again is listed as that version, never a second version of one fingerprint."""
        from tusk._internal.crash import at_point

        class Killed(Exception):
            pass

        def kill() -> None:
            raise Killed

        name = names("unlisted")
        train(tracker, tmp_path, name, "f1")
        candidate = record(tmp_path, name, "f2")
        candidate.tags.update({T.CANDIDATE: "true", T.REVIEW: "fix"})
        with at_point("candidate.version", kill), pytest.raises(Killed):
            tracker.register_candidate(candidate, "fix")
        assert "f2" not in tracker.candidates().get(name, {})
        again = record(tmp_path, name, "f2")
        again.tags.update({T.CANDIDATE: "true", T.REVIEW: "fix"})
        assert tracker.register_candidate(again, "fix") == "2"
        assert tracker.candidates()[name]["f2"].version == "2"
        assert [v.version for v in tracker.versions(name)] == ["2", "1"]

    def test_the_states_of_some_instances_are_theirs_in_every_state(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        """states(names) holds exactly what states() holds for those names: a reused (pointer) state, a newest
        version's state, a model with only a candidate (no state) and a name never registered."""
        a, b, candidate, ghost = names("sa"), names("sb"), names("sc"), names("sg")
        train(tracker, tmp_path, a, "f1", "f2")
        state = tracker.states()[a]
        state.version, state.fingerprint = "1", "f1"
        tracker.reuse(state)
        train(tracker, tmp_path, b, "f1")
        tracker.register_candidate(record(tmp_path, candidate, "f1"), "fix")
        every = tracker.states()
        some = tracker.states([a, b, candidate, ghost])
        assert some == {a: every[a], b: every[b]} and some[a].version == "1"
        assert tracker.states([b]) == {b: every[b]} and tracker.states([]) == {}
        many = [names(f"x{i}") for i in range(1200)] + [a]  # past SQLite's limit of bound values
        assert tracker.states(many) == {a: every[a]}

    def test_the_registry_stamp_moves_with_states_and_candidates(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        """None (no cheap stamp) is allowed; a stamp must change whenever states() or candidates() would."""
        name = names("s")
        before = tracker.registry_stamp()
        if before is None:
            return
        assert tracker.registry_stamp() == before, "nothing changed"
        train(tracker, tmp_path, name, "f1", "f2")
        trained = tracker.registry_stamp()
        assert trained != before
        state = tracker.states()[name]
        state.version, state.fingerprint = "1", "f1"
        tracker.reuse(state)  # the current version moves back, nothing is registered
        reused = tracker.registry_stamp()
        assert reused != trained and tracker.states()[name].version == "1"
        tracker.register_candidate(record(tmp_path, name, "f3"), "fix")
        assert tracker.registry_stamp() not in (reused, trained, before)

    def test_a_deleted_version_is_missing_and_not_found(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        name = names("j")
        train(tracker, tmp_path, name, "f1", "f2")
        self.delete_version(tracker, name, "1")
        assert tracker.missing_versions([(name, "1"), (name, "2"), (names("none"), "1")]) == sorted(
            [(name, "1"), (names("none"), "1")]
        )
        assert [v.version for v in tracker.versions(name)] == ["2"]
        with pytest.raises(ModelNotFound):
            tracker.version(name, "1")

    def test_logs_and_files_of_a_version(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        name = names("k")
        train(tracker, tmp_path, name, "f1")
        text, where = tracker.run_log(name, "1")
        assert text == f"trained {name} f1\n" and where.endswith("job.log")
        files = tracker.download(name, "1", tmp_path / "download")
        assert (files / "weights.txt").read_text() == "f1"

    def test_what_does_not_exist_is_not_found(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        ghost = names("ghost")
        attempts: tuple[Callable[[], object], ...] = (
            lambda: tracker.version(ghost, "1"),
            lambda: tracker.versions(ghost),
            lambda: tracker.set_alias(ghost, "1"),
            lambda: tracker.rollback(ghost, to="1"),
            lambda: tracker.run_log(ghost, "1"),
            lambda: tracker.download(ghost, "1", tmp_path / "d"),
        )
        for attempt in attempts:
            with pytest.raises(ModelNotFound):
                attempt()
        assert ghost not in tracker.states() and ghost not in tracker.aliases()

    def test_versions_are_found_by_tag_and_all_at_once(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        name = names("l")
        train(tracker, tmp_path, name, "f1", "f2")
        found = tracker.search_versions("tusk.fingerprint", "f2")
        assert [(v.name, v.version) for v in found if v.name == name] == [(name, "2")]
        assert found[0].tags["tusk.data_commit"] == "c" * 40
        mine = sorted((v.name, v.version) for v in tracker.all_versions() if v.name == name)
        assert mine == [(name, "1"), (name, "2")]

    def test_releases_and_the_release_log(self, tracker: Any, tmp_path: Path, names: Names) -> None:
        """The ReleaseRegistry port: a release recorded whole becomes current, the pointer moves, events are
        pending until finished and void when they never took place. (A shared server may hold others' releases.)"""
        from tusk.tracking.base import ReleaseRegistry

        registry = tracker.release_registry()
        assert isinstance(registry, ReleaseRegistry)
        first, second = names("r1"), names("r2")
        a = registry.record_release(
            {"m": "1"}, {"tusk.release.md5": first}, {"tusk.release.event": "created", "tusk.release.md5": first}
        )
        b = registry.record_release(
            {"m": "2", "n": "1"},
            {"tusk.release.md5": second},
            {"tusk.release.event": "created", "tusk.release.md5": second},
        )
        by_md5 = {r.tags.get("tusk.release.md5"): r for r in registry.releases()}
        assert by_md5[first].manifest == {"m": "1"} and by_md5[second].manifest == {"m": "2", "n": "1"}
        assert by_md5[second].current and not by_md5[first].current and int(b.version) > int(a.version)
        registry.point(a.version)
        assert [r.version for r in registry.releases() if r.current] == [a.version]
        registry.tag_release(b.version, {"tusk.release.built": "true"})
        assert {r.version: r.tags.get("tusk.release.built") for r in registry.releases()}[b.version] == "true"
        moved = registry.start_event({"tusk.release.event": "rolled_back", "tusk.release.md5": first})
        void = registry.start_event({"tusk.release.event": "rolled_forward", "tusk.release.md5": names("none")})
        assert {moved, void} <= {e.id for e in registry.events(pending_only=True)}
        registry.finish_event(moved)
        registry.finish_event(void, done=False)
        status = {e.id: e.status for e in registry.events()}
        assert status[moved] == "done" and status[void] == "void"
        assert not {moved, void} & {e.id for e in registry.events(pending_only=True)}

    def test_a_failed_job_is_a_run_found_by_instance_with_its_log(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        """The failure methods (issue 22): a failed job is recorded without a version; each instance's newest
        failure is found (of some instances only, if asked) with its fingerprint, data commit, last error line
        and log; a success elsewhere does not hide it (the planner compares fingerprints, not the tracker)."""
        name, other, clean = names("fail"), names("fail-other"), names("fine")
        stamp = tracker.registry_stamp()
        first = tracker.log_failure(
            failure(
                tmp_path,
                name,
                "f1",
                "Traceback (most recent call last):\n  ...\nValueError: no good at first",
                log="first attempt\n",
            )
        )
        assert isinstance(first, str) and first
        time.sleep(0.05)  # runs are ordered by their start (milliseconds)
        second = tracker.log_failure(failure(tmp_path, name, "f2", "ValueError: no good again", log="second\n"))
        tracker.log_failure(failure(tmp_path, other, "g1", "RuntimeError: other"))
        train(tracker, tmp_path, clean, "h1")
        assert stamp is None or tracker.registry_stamp() != stamp, "a failure moves the registry stamp"

        found = tracker.failures([name, other, clean, names("never")])
        assert sorted(found) == sorted([name, other])
        newest = found[name]
        assert (newest.name, newest.fingerprint, newest.data_commit, newest.run_id) == (name, "f2", "c" * 40, second)
        assert newest.error == "ValueError: no good again" and newest.time_ms > 0
        assert found[other].fingerprint == "g1" and found[other].error == "RuntimeError: other"
        assert set(tracker.failures([name])) == {name}
        assert tracker.failures([names("never")]) == {}
        assert {name, other} <= set(tracker.failures())

        text, where = tracker.failure_log(newest)
        assert text == "second\n" and where.endswith("job.log")
        assert name not in tracker.states() and name not in tracker.aliases(), "a failure registers no version"
        assert [v.version for v in tracker.versions(clean)] == ["1"]

    def test_a_failure_without_a_log_is_found_and_its_log_is_a_tracking_error(
        self, tracker: Any, tmp_path: Path, names: Names
    ) -> None:
        name = names("nolog")
        train(tracker, tmp_path, name, "f1")
        tracker.log_failure(failure(tmp_path, name, "f2", "killed by signal 9", log=None))
        found = tracker.failures([name])[name]
        assert (found.fingerprint, found.error) == ("f2", "killed by signal 9")
        with pytest.raises(TrackingError):
            tracker.failure_log(found)
        assert tracker.states()[name].version == "1", "the version before the failure stays current"
