"""factory-hmi core runtime: configuration, tag cache, OPC UA sources, alarms, storage. Never imports NiceGUI."""

__version__ = "0.1.0"
