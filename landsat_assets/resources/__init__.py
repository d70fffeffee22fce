"""Dagster resources: configuration from the environment, thin wrappers over plain modules."""
