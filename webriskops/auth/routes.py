"""Customer login views (filled in by the customer-side work)."""
