"""Tests of the client package: what starts and follows runs from outside a workflow."""
