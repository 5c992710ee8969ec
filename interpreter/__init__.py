"""The kworkflow/v1 definition layer and the deterministic interpreter workflow."""
