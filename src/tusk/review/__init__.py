"""The review wing: reviews and their merge previews, approvals, impact, data checks, source sync, browsing."""
