"""Plant pictures as SVG text (no NiceGUI): the line picture generated from the plant model (ISA-101 level 2),
and custom drawings made safe and bound to tag values."""
