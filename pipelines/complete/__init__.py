"""Built-in part completion: each part of a segmented mesh closed into a watertight solid."""
