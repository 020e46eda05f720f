"""Tsunagu (つなぐ): an open FHIR R4 + JP Core platform for Japan's medical DX."""

__version__ = "0.1.0"
