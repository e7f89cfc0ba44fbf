"""REST API: JSON in and out, bearer-token authentication, no CSRF."""

# Routes register on import, in this order: the order of /api/openapi.json and /api/docs.
from smspanel.api import auth, sms, approvals, usage, exports, templates, opt_outs  # noqa: F401,I001
from smspanel.api import webhook, health, docs  # noqa: F401
from smspanel.api.blueprint import bp

__all__ = ["bp"]
