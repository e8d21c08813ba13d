"""The HTTPS API (Powertools REST resolver). functions/api/app.py only hands events to `app`."""

from openmultistack.api.app import app

__all__ = ["app"]
