#!/usr/bin/env python3
"""End-to-end API suite (suite.py) behind apache: auth, devices, ownership,
health, malformed requests, rate limits, crash recovery, webhooks."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402

if __name__ == "__main__":
    suite.main("apache")
