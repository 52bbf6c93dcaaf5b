"""Small backend helpers shared by the whole package (random seeds, validation)."""
