"""``manage.py runserver`` refuses, pointing at ``make run``: it would serve the console but not
the gateway.

Django's development server speaks WSGI and serves Django's URLs only; the proxy paths
(``/v1/chat/completions``, ``/v1/messages``, ``/apps/{slug}/v1/…``) are a separate ASGI
pipeline (config.asgi), so under ``runserver`` every one of them would answer 404 while the
console looked fine. ``--console-only`` still starts it for work on templates, saying so.
Why refuse rather than serve: docs/decisions.md, "runserver".
"""

from __future__ import annotations

from django.contrib.staticfiles.management.commands.runserver import Command as StaticfilesRunserver
from django.core.management.base import CommandError

REFUSAL = (
    "runserver serves the console but not the gateway: every proxy path (/v1/chat/completions, "
    "/v1/messages, /v1/embeddings, /v1/models, /apps/<slug>/v1/...) would answer 404. "
    "Run `make run` instead (the whole gateway under uvicorn, with the demo tenant), or "
    "`manage.py runserver --console-only` to work on console pages alone."
)


class Command(StaticfilesRunserver):
    help = "Refuses (see `make run`); with --console-only, Django's development server for the console pages."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--console-only",
            action="store_true",
            help="serve the console and the management API only; the proxy paths answer 404",
        )

    def handle(self, *args, console_only: bool = False, **options) -> None:
        if not console_only:
            raise CommandError(REFUSAL)
        self.stderr.write(self.style.WARNING("console only: the proxy paths answer 404 here; `make run` serves them"))
        super().handle(*args, **options)
