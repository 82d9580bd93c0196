"""Tests of the customer side: reports."""
