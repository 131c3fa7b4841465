#!/usr/bin/env python3
"""CGI entry point (run by zookfs for /zoobar/index.cgi/...): the same Flask app."""

import os
import sys

# The directory that holds the zoobar package (/home/student in containers).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("ZOOK_SECTION", "dynamic")

from wsgiref.handlers import CGIHandler  # noqa: E402

from zoobar.frontend import create_app  # noqa: E402

CGIHandler().run(create_app())
