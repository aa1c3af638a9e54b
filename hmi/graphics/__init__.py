"""Pure geometry for the screens' graphics (no NiceGUI): indicators, sparklines, line pictures."""
