"""NiceGUI screens: a shared frame and one module per screen. Screens call services in `hmi`, never the database."""
