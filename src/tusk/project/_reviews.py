"""Project's review conversation and per-model approval (``tusk review comment|close|edit|approve``, the page's
review): title, description, status and comments that travel with the branch, and the rows of a review that
feed chosen models merged as one commit; a review's training time and cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tusk.project._base import ProjectBase

if TYPE_CHECKING:
    from tusk.review.approve import Approval
    from tusk.review.browse import ChangePage
    from tusk.review.impact import Estimate, ReviewImpact
    from tusk.review.meta import ReviewMeta, ReviewRow
    from tusk.review.outcome import Outcome


class ReviewMethods(ProjectBase):
    """What ``tusk review comment | close | edit | approve`` and the review page call."""

    def review_meta(self, branch: str) -> ReviewMeta:
        """A review's title, description, status (open, closed, merged) and comments, as the data store holds
        them (on the ``tusk-reviews`` branch, which travels through push and pull), also once the branch is gone."""
        from tusk.review import meta as review_meta

        return review_meta.read(self, branch)

    def review_outcome(self, branch: str) -> Outcome:
        """How a merged or closed review ended: who merged or closed it and when, the merge commit, what the
        merge brought (the data branch before it against the merge commit) and the models it retrained."""
        from tusk.review import meta as review_meta
        from tusk.review.outcome import outcome

        return outcome(self, review_meta.read(self, branch))

    def merged_page(
        self,
        before: str,
        merge_commit: str,
        table: str | None = None,
        where: dict[str, str] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> ChangePage:
        """What a merge brought, for the page: ``before`` (the data branch just before it) against the merge
        commit, its commits, one table paged."""
        from tusk.review.browse import merged_page

        return merged_page(self.data, before, merge_commit, table, where, offset, limit)

    def edit_review(
        self,
        branch: str,
        who: str,
        title: str | None = None,
        description: str | None = None,
        status: str | None = None,
        comment: str | None = None,
        kind: str = "comment",
        expect_head: str | None = None,
    ) -> ReviewMeta:
        """Write a review's title/description/status and a comment as one commit on ``tusk-reviews`` (never on the
        review branch: conversation is not data)."""
        from tusk.review import meta as review_meta

        meta, _ = review_meta.update(
            self,
            branch,
            who,
            title=title,
            description=description,
            status=status,
            comment=comment,
            kind=kind,
            expect_head=expect_head,
        )
        return meta

    def approve(
        self,
        branch: str,
        only: str | Sequence[str],
        who: str,
        expect_head: str | None = None,
        expect_into: str | None = None,
    ) -> Approval:
        """Accept only the rows of ``branch`` that feed the models matching ``only`` (globs), as one commit on
        the data branch; the rest stays on the branch."""
        from tusk.review.approve import approve

        return approve(self, branch, only, who, expect_head, expect_into)

    def rows_per_model(self, branch: str, names: Sequence[str]) -> dict[str, int | None]:
        """How many of the review's changed rows feed each of ``names`` (None: its inputs cannot be split)."""
        from tusk.review.approve import rows_per_model

        return rows_per_model(self, branch, list(names))

    def estimate(self, names: Sequence[str]) -> Estimate:
        """Training time and cost of ``names`` from their recorded jobs and ``[cost]``."""
        from tusk.review.impact import estimate

        return estimate(self.workspace, list(names))

    def review_rows(self, gone: bool = False) -> list[ReviewRow]:
        """Every review (``tusk review list``) with its title and status: open, closed or merged; ``gone``: also
        the reviews whose branch was deleted, from their record."""
        from tusk.review import meta as review_meta
        from tusk.review import reviews as review

        return review_meta.listing(self, review.reviews(self.data, self.config), gone)

    def review_impact(self, branch: str) -> ReviewImpact:
        """What merging ``branch`` would retrain and why, rows per model, time and cost, at the heads it read."""
        from tusk.review.impact import review_impact

        return review_impact(self.workspace, branch, self.rows_per_model)
