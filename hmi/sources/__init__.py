"""Data sources feeding the tag cache; one adapter per protocol behind the small `Source` protocol."""

from hmi.sources.base import EndpointStatus, Source, StatusBoard

__all__ = ["EndpointStatus", "Source", "StatusBoard"]
