"""Command-line entry points (`corral …`)."""
