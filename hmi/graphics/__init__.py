"""Plant pictures: safe SVG drawings and what binds them to tag values (no user interface here)."""
