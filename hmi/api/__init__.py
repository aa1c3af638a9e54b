"""The REST API for MES and ERP systems (docs/api.md): a FastAPI application the screens mount at /api."""

from hmi.api.app import build_api

__all__ = ["build_api"]
