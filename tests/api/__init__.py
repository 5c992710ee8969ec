"""Tests of the HTTP API, served for real over the session dev server and a worker."""
