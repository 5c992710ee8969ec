"""Real-browser tests of the web UI (headless Chromium from the OS, driven by Playwright)."""
