"""The science of the platform: plain functions over arrays and files, no Dagster."""
