"""HTTP handlers of the mail capability (filled in by its issue)."""

api_routes: list = []  # mounted under /v1, behind the API-key guard
page_routes: list = []  # recipient-facing pages
