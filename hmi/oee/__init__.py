"""Line status and OEE (ISO 22400, PackML): state timelines, stops with downtime reasons, OEE per window."""
