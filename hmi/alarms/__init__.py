"""Alarms: the pure ISA-18.2 state machine, condition evaluation, the engine and the command service."""
