"""The management API's shared machinery (SPEC section 5): authentication, permissions,
cursor pagination, the one exception handler, base views and serializers, OpenAPI helpers.

Resources live in ``<app>/api/`` and build on this package; nothing here knows a resource.
"""
