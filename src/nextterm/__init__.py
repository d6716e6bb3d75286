"""nextterm: integer-sequence continuation."""
