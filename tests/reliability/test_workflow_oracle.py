"""An oracle over the whole workflow: hypothesis drives ``Project`` through imports (on the data branch and on
review branches, upsert and replace), the page's proposals, edits of a matrix value, merges, reverts, runs,
candidates trained on a review, approvals per model, closed reviews, releases and their rollback, model
rollbacks and garbage collection, in any order. After every step the promises that hold between features are checked:

- every version's data commit resolves, and its inputs read there digest as recorded;
- the plan equals a full re-hash of every instance (the planner oracle's), failures and candidates included;
- every alias and every instance's current state names a version that exists;
- no two versions of an instance share a fingerprint (a reuse moves the alias, it never trains again);
- the current release names versions that exist, and right after a release event it holds exactly the
  production versions;
- a merged review reports merged; a proposal never moves the data branch;
- a server following the current release serves exactly the current release.

The seams that broke in users' hands were each two features meeting in an order no test walked; this is the
net for the orders nobody thought of. ``make test`` runs a few examples (TUSK_ORACLE_EXAMPLES, default 3);
``make reliability`` runs many more.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import tusk  # noqa: F401  (doltlite before sqlite3)
from plan_oracle import oracle
from train_fixtures import TrainProject, make_project, write_csv
from tusk import Project
from tusk.core.plan import read_input
from tusk.core.spec import CodeHasher, expand
from tusk.errors import TuskError

pytestmark = pytest.mark.slow

CUSTOMERS = ["c0", "c1", "c2", "c3", "c4"]
FAILING = "c3"  # its job raises: a model whose job failed
LABELS = ["l0", "l1", "l2"]
WHO = "oracle"


def _examples(name: str) -> int:
    return int(os.environ.get(name, "0")) or 0


# How often each rule ran, and how many machines (examples, shrinks included) were torn down: written as JSON to
# TUSK_ORACLE_STATS after each example when it is set (make reliability's figures).
STATS: Counter[str] = Counter()


def _counted(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def counting(self: Any, **kwargs: Any) -> Any:
        STATS[function.__name__] += 1
        return function(self, **kwargs)

    return counting


def _write_stats() -> None:
    if os.environ.get("TUSK_ORACLE_STATS"):
        Path(os.environ["TUSK_ORACLE_STATS"]).write_text(json.dumps(dict(STATS), sort_keys=True))


class WorkflowOracle(RuleBasedStateMachine):
    """One project; each rule is one user action through the facade; invariants after every step."""

    @initialize()
    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="tusk-workflow-"))
        self.cli: TrainProject = make_project(
            self.tmp, customers=3, per_customer=3, executor="immediate://", params={"fail": FAILING}
        )
        self.project = Project.open(self.cli.root)
        self.next_id = 1000
        self.branches: list[str] = []  # review branches made so far (open, closed or merged)
        self.merged: set[str] = set()
        self.closed: set[str] = set()
        self.failed: dict[str, str | None] = {}  # instance → fingerprint its last job failed at
        self.release_fresh = False  # a release event was the last thing that moved production aliases

    def teardown(self) -> None:
        self.project.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        STATS["(examples)"] += 1
        _write_stats()

    # ----- helpers ----------------------------------------------------------------------------------------
    def _current_rows(self, ref: str | None = None) -> list[list[Any]]:
        result = self.project.sql("SELECT id, customer, text, label FROM examples ORDER BY id", at=ref)
        return [list(r) for r in result.rows]

    def _import(self, data: list[list[Any]], mode: str = "upsert", branch: str | None = None) -> None:
        path = write_csv(self.tmp / "edit.csv", data)
        try:
            self.project.import_file(str(path), "examples", ["id"], mode=mode, branch=branch, message="edit", yes=True)
        except TuskError:
            return  # refused (e.g. nothing changed): nothing happened, which the invariants check too

    def _open(self) -> list[str]:
        return [b for b in self.branches if b not in self.merged and b not in self.closed]

    def _pick_open(self, pick: int) -> str | None:
        """One of the open reviews whose branch exists (None: there is none)."""
        open_ = [b for b in self._open() if self._exists(b)]
        return open_[pick % len(open_)] if open_ else None

    def _head(self) -> str:
        return self.project.data.resolve(self.project.config.data.branch)

    # ----- data -------------------------------------------------------------------------------------------
    @rule(customer=st.sampled_from(CUSTOMERS), label=st.sampled_from(LABELS), new_row=st.booleans())
    def import_main(self, customer: str, label: str, new_row: bool) -> None:
        current = [r for r in self._current_rows() if r[1] == customer]
        if new_row or not current:
            self.next_id += 1
            self._import([[self.next_id, customer, f"text {self.next_id}", label]])
        else:
            self._import([[current[0][0], customer, current[0][2], label]])

    @rule(drop=st.sampled_from(CUSTOMERS))
    def replace_main(self, drop: str) -> None:
        """A whole-table import without one customer's rows: its model becomes orphaned."""
        kept = [r for r in self._current_rows() if r[1] != drop]
        if kept:
            self._import(kept, mode="replace")

    @rule(old=st.sampled_from(CUSTOMERS), new=st.sampled_from(CUSTOMERS))
    def rename_customer(self, old: str, new: str) -> None:
        """An edit of a matrix value: one customer's rows become another's."""
        moved = [[r[0], new, r[2], r[3]] for r in self._current_rows() if r[1] == old]
        if moved and old != new:
            self._import(moved)

    @rule(
        customer=st.sampled_from(CUSTOMERS), label=st.sampled_from(LABELS), fresh=st.booleans(), pick=st.integers(0, 9)
    )
    def import_branch(self, customer: str, label: str, fresh: bool, pick: int) -> None:
        open_ = self._open()
        if fresh or not open_:
            branch = f"r{len(self.branches)}"
            self.branches.append(branch)
        else:
            branch = open_[pick % len(open_)]
        current = [r for r in self._current_rows() if r[1] == customer]
        if current and pick % 2:
            self._import([[current[0][0], customer, current[0][2] + " fixed", label]], branch=branch)
        else:
            self.next_id += 1
            self._import([[self.next_id, customer, f"branch text {self.next_id}", label]], branch=branch)

    @rule(
        customer=st.sampled_from(CUSTOMERS), label=st.sampled_from(LABELS), fresh=st.booleans(), pick=st.integers(0, 9)
    )
    def propose(self, customer: str, label: str, fresh: bool, pick: int) -> None:
        """The page's "propose a change": a file onto a review branch (a new one, or an open review's), never onto
        the data branch, whatever the file holds."""
        head = self._head()
        open_ = self._open()
        branch = None if fresh or not open_ else open_[pick % len(open_)]
        current = [r for r in self._current_rows() if r[1] == customer]
        if current and pick % 2:
            rows = [[current[0][0], customer, current[0][2], label]]  # may change nothing: refused, nothing opened
        else:
            self.next_id += 1
            rows = [[self.next_id, customer, f"proposed {self.next_id}", label]]
        path = write_csv(self.tmp / "proposal.csv", rows)
        before = {b.name for b in self.project.branches().branches}
        try:
            proposal = self.project.propose(str(path), "examples", f"proposal {len(self.branches)}", WHO, branch=branch)
        except TuskError:
            after = {b.name for b in self.project.branches().branches}
            assert after == before, f"a refused proposal left branches behind: {sorted(after - before)}"
            assert self._head() == head, "a refused proposal moved the data branch"
            return
        assert self._head() == head, f"proposal {proposal.branch} moved the data branch"
        assert proposal.branch != self.project.config.data.branch
        if proposal.new_branch:
            self.branches.append(proposal.branch)
        assert self.project.review_meta(proposal.branch).status == "open"

    @rule(pick=st.integers(0, 9))
    def merge(self, pick: int) -> None:
        branch = self._pick_open(pick)
        if branch is None:
            return
        try:
            self.project.merge(branch)
        except TuskError:
            return  # conflicts, a failing check, an unplannable preview: refused whole (checked below)
        self.merged.add(branch)

    def _exists(self, branch: str) -> bool:
        return branch in {b.name for b in self.project.branches().branches}

    @rule(back=st.integers(0, 3))
    def revert(self, back: int) -> None:
        commits = self.project.log(limit=back + 1).commits
        if len(commits) <= back or len(commits) < 2:
            return
        try:
            self.project.revert(commits[back].hash)
        except TuskError:
            return  # a merge commit, or a revert that conflicts: refused

    @rule()
    def collect_garbage(self) -> None:
        self.project.data.gc()  # type: ignore[attr-defined]

    # ----- training ---------------------------------------------------------------------------------------
    def _note_failures(self, report: Any, expected: dict[str, Any]) -> None:
        for job in report.jobs:
            if job.status == "failed":
                self.failed[job.name] = expected[job.name]["fingerprint"] if job.name in expected else None
            elif job.status in ("succeeded", "reused"):
                self.failed.pop(job.name, None)

    @rule()
    def run(self) -> None:
        expected = oracle(self.project.config, self.project.data, self._head(), self.project.tracker.states())
        report = self.project.run()
        self._note_failures(report, expected)
        if any(j.status in ("succeeded", "reused") for j in report.jobs):
            self.release_fresh = False

    @rule(pick=st.integers(0, 9))
    def run_candidates(self, pick: int) -> None:
        branch = self._pick_open(pick)
        if branch is None:
            return
        try:
            report = self.project.run(at=branch, candidates=True)
        except TuskError:
            return
        # a candidate's job that failed is a failure at the preview's inputs: once the data branch holds the same
        # inputs (the review merged), the instance plans as failed there too (its newest failure, same fingerprint)
        for job in report.jobs:
            if job.status == "failed":
                self.failed[job.name] = self.project.tracker.failures([job.name])[job.name].fingerprint

    @rule(pick=st.integers(0, 9), customer=st.sampled_from(CUSTOMERS))
    def approve(self, pick: int, customer: str) -> None:
        branch = self._pick_open(pick)
        if branch is None:
            return
        try:
            self.project.approve(branch, f"m-{customer}", WHO)
        except TuskError:
            return

    @rule(pick=st.integers(0, 9))
    def close_review(self, pick: int) -> None:
        branch = self._pick_open(pick)
        if branch is None:
            return
        self.project.edit_review(branch, WHO, status="closed", comment="not now")
        self.closed.add(branch)

    # ----- releases and rollbacks -------------------------------------------------------------------------
    @rule()
    def release_create(self) -> None:
        try:
            self.project.create_release(build=False)
        except TuskError:
            return  # nothing in production yet
        self.release_fresh = True

    @rule()
    def release_rollback(self) -> None:
        try:
            self.project.rollback_release()
        except TuskError:
            return  # no earlier release
        self.release_fresh = True

    @rule(customer=st.sampled_from(CUSTOMERS))
    def model_rollback(self, customer: str) -> None:
        try:
            self.project.rollback_model(f"m-{customer}")
        except TuskError:
            return  # no such model, or no earlier version
        self.release_fresh = False

    # ----- invariants -------------------------------------------------------------------------------------
    @invariant()
    def every_data_commit_resolves_and_digests_as_recorded(self) -> None:
        store, config = self.project.data, self.project.config
        for info in self.project.tracker.all_versions():
            if info.name.startswith("tusk-"):
                continue
            commit = info.tags.get("tusk.data_commit")
            assert commit, f"{info.name} v{info.version} records no data commit"
            try:
                resolved = store.resolve(commit)
            except TuskError as exc:
                raise AssertionError(
                    f"{info.name} v{info.version} names data commit {commit[:7]}, which no longer resolves: {exc}"
                ) from exc
            matrix = lambda sql, at=resolved: [r[0] for r in store.query(sql, None, ref=at).rows]  # noqa: E731
            instances = {i.name: i for i in expand(config, matrix, CodeHasher(config.root))}
            assert info.name in instances, f"{info.name} v{info.version}: no such instance at {commit[:7]}"
            for name, query in instances[info.name].inputs.items():
                recorded = info.tags.get(f"tusk.inputs.{name}.digest")
                read = read_input(store, query, resolved).record
                assert read.digest == recorded, (
                    f"{info.name} v{info.version}: input {name} at {commit[:7]} "
                    f"digests {read.digest[:12]}, recorded {str(recorded)[:12]}"
                )

    @invariant()
    def the_plan_equals_a_full_rehash(self) -> None:
        tracker, store = self.project.tracker, self.project.data
        head = self._head()
        states = tracker.states()
        candidates = tracker.candidates()
        expected = oracle(self.project.config, store, head, states)
        plan = {p.name: p for p in self.project.plan().instances}
        assert set(plan) == set(expected), (sorted(plan), sorted(expected))
        for name, want in expected.items():
            got, status = plan[name], want["status"]
            if status in ("new", "stale") and want["fingerprint"] in candidates.get(name, {}):
                status = "reuse"
            if status in ("new", "stale") and name in self.failed and self.failed[name] == want["fingerprint"]:
                status = "failed"
            assert got.status == status, f"{name}: planned {got.status}, the full re-hash says {status}"
            if got.fingerprint is not None and want["fingerprint"] is not None:
                assert got.fingerprint == want["fingerprint"], f"{name}: fingerprints differ"

    @invariant()
    def aliases_and_states_name_existing_versions(self) -> None:
        tracker = self.project.tracker
        versions = {(v.name, v.version) for v in tracker.all_versions()}
        for name, version in tracker.aliases().items():
            assert (name, version) in versions, f"alias production of {name} names v{version}, which is missing"
        for name, state in tracker.states().items():
            assert (name, state.version) in versions, f"{name}'s current state names v{state.version}: missing"

    @invariant()
    def no_fingerprint_is_trained_twice(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        for info in self.project.tracker.all_versions():
            fingerprint = info.tags.get("tusk.fingerprint")
            if not fingerprint or info.name.startswith("tusk-"):
                continue
            key = (info.name, fingerprint)
            assert key not in seen, f"{info.name} v{seen.get(key)} and v{info.version} share a fingerprint"
            seen[key] = info.version

    @invariant()
    def the_current_release_holds_production(self) -> None:
        release = self.project.releases.current()
        if release is None:
            return
        models = dict(release.models)
        versions = {(v.name, v.version) for v in self.project.tracker.all_versions()}
        for name, version in models.items():
            assert (name, str(version)) in versions, f"the current release names {name} v{version}: missing"
        if self.release_fresh:
            production = {n: v for n, v in self.project.tracker.aliases().items() if not n.startswith("tusk-")}
            assert models == production, f"after a release event: release {models}, production {production}"

    @invariant()
    def a_following_server_serves_the_current_release(self) -> None:
        """What `tusk serve` (following the current release) reads as served is the release that is current, with
        its models and versions, after any order of releases, rollbacks and model rollbacks."""
        from tusk.serve.source import TrackerSource

        release = self.project.releases.current()
        source = TrackerSource(self.project.tracker, self.tmp / "served")
        if release is None:
            with pytest.raises(TuskError):
                source.current()
            return
        served = source.current()
        assert (served.md5, served.models) == (release.md5, dict(release.models)), (
            f"a following server would serve {served.md5} {served.models}, the current release is {release.md5}"
        )

    @invariant()
    def merged_reviews_say_merged(self) -> None:
        for branch in sorted(self.merged):
            meta = self.project.review_meta(branch)
            assert meta.status == "merged", f"review {branch} was merged and reports {meta.status}"


def test_a_candidate_merged_then_collected_still_resolves(tmp_path: Path) -> None:
    """The order users walked into (candidates on a review, main moves, merge, run, gc), replayed through the
    machine so that its invariants judge it: the reused candidate's data commit must still resolve."""
    machine = WorkflowOracle()
    try:
        machine.start()
        machine.import_branch(customer="c0", label="l1", fresh=True, pick=1)
        machine.import_main(customer="c1", label="l2", new_row=False)
        machine.run()
        machine.run_candidates(pick=0)
        machine.merge(pick=0)
        machine.run()
        machine.collect_garbage()
        machine.import_main(customer=FAILING, label="l0", new_row=True)
        machine.run()
        for check in (
            machine.every_data_commit_resolves_and_digests_as_recorded,
            machine.the_plan_equals_a_full_rehash,
            machine.aliases_and_states_name_existing_versions,
            machine.no_fingerprint_is_trained_twice,
            machine.merged_reviews_say_merged,
            machine.a_following_server_serves_the_current_release,
        ):
            check()
        assert machine.failed, "the failing customer's job should have failed"
        machine.release_create()
        machine.the_current_release_holds_production()
    finally:
        machine.teardown()


for _function in list(vars(WorkflowOracle).values()):
    if callable(_function) and hasattr(_function, "hypothesis_stateful_rule"):  # the Rule hypothesis calls
        _function.hypothesis_stateful_rule.function = _counted(_function.hypothesis_stateful_rule.function)

WorkflowOracle.TestCase.settings = settings(
    max_examples=_examples("TUSK_ORACLE_EXAMPLES") or 3,
    stateful_step_count=_examples("TUSK_ORACLE_STEPS") or 12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
TestWorkflowOracle = WorkflowOracle.TestCase
