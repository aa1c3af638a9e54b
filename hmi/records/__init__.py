"""The regulated records: audit trail (keyed hash chain, anchor, export), e-signatures, shift notes, handover,
configuration changes and backups (21 CFR 11.10(c), (e), 11.50, 11.70)."""
