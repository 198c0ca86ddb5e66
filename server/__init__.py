"""Heshi (和事): the session server for remote video mediation of civil disputes."""

__version__ = "0.1.0"
