"""Director pairs: what a director runs for the pair it belongs to (connection sync, the VRRP role it follows)."""
