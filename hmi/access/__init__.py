"""Who may act: accounts and passwords, roles and permissions, the action context, sessions, stations, the idle
lock and sign-in abuse limits (21 CFR 11.10(d), (g), 11.300)."""
