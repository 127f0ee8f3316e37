"""The web service: Flask app factory, blueprints (ui, api, public), CLI and scheduler wiring."""

from web.app import create_app

__all__ = ["create_app"]
