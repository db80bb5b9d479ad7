"""Printed opt-out codes for post and fax: issued with `POST /v1/links`, typed at `/o`."""
