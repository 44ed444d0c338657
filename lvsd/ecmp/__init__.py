"""Active-active directors behind ECMP routers: which VIPs to announce, and tables every director builds alike."""
