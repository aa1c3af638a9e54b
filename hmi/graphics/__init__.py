"""Plant pictures and indicators as SVG text and geometry (no NiceGUI): the line picture generated from the plant
model (ISA-101 level 2), custom drawings made safe and bound to tag values, the overview's indicators and sparklines."""
