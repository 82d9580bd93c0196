"""Tests of the customer side: auth."""
