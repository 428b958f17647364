from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

from config.settings import settings_module_default

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module_default())
application = get_wsgi_application()
