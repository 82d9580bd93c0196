"""Tests of the customer side: browser."""
