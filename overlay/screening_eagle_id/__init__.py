"""Screening Eagle ID client."""
