"""Export stage: segment membership + identity match keys -> ad-platform audience files with manifests."""
