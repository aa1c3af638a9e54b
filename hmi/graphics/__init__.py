"""Process graphics built from the plant model as SVG text (no NiceGUI): the line picture (ISA-101 level 2)."""
