"""MQTT: the plant published to a broker as a unified namespace (JSON) or as Sparkplug B (docs/mqtt.md)."""
