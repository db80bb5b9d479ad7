from tests.mail.conftest import smtp, worker  # noqa: F401  (shared fixtures)
